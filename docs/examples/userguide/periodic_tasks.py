"""User guide, periodic tasks: the beat schedule, in code and in settings."""
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab

app = Celery('proj', broker='memory://')
app.conf.timezone = 'Europe/London'


@app.task
def cleanup():
    return 'cleaned'


@app.task
def report(kind):
    return f'{kind} report'


# [settings]
app.conf.beat_schedule = {
    'cleanup-every-half-hour': {
        'task': 'proj.cleanup',
        'schedule': timedelta(minutes=30),
    },
    'weekly-report-monday-morning': {
        'task': 'proj.report',
        'schedule': crontab(hour=7, minute=30, day_of_week='mon'),
        'args': ('weekly',),
        'options': {'queue': 'reports', 'expires': 3600},
    },
}
# [end settings]


# [in-code]
@app.on_after_configure.connect
def setup_periodic_tasks(sender, **kwargs):
    sender.add_periodic_task(10.0, report.s('heartbeat'), name='heartbeat every 10 s')
    sender.add_periodic_task(crontab(minute=0, hour='*/3'), cleanup.s())
# [end in-code]


# [inspect]
for name in sorted(app.conf.beat_schedule):
    print(name)
# -> cleanup-every-half-hour
# -> heartbeat every 10 s
# -> proj.cleanup()
# -> weekly-report-monday-morning
# [end inspect]

# [crontab]
every_quarter_hour = crontab(minute='*/15')
first_of_month = crontab(minute=0, hour=0, day_of_month=1)
weekdays_at_five = crontab(minute=0, hour=17, day_of_week='mon-fri')
print(sorted(every_quarter_hour.minute))   # -> [0, 15, 30, 45]
print(sorted(weekdays_at_five.day_of_week))  # -> [1, 2, 3, 4, 5]
# [end crontab]
