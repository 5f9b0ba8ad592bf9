"""User guide, the application: creating, configuring and finalizing an app."""
from celery import Celery

# [create]
app = Celery('proj', broker='memory://', backend='cache+memory://')


@app.task
def greet(name):
    return f'hello {name}'


print(greet.name)                 # -> proj.greet
# [end create]

# [conf]
app.conf.update(
    task_serializer='json',
    timezone='Europe/Berlin',
)
app.conf.worker_prefetch_multiplier = 1
print(app.conf.timezone)          # -> Europe/Berlin
print(app.conf['task_serializer'])  # -> json
# [end conf]

# [from-object]
class Config:
    task_acks_late = True
    task_default_queue = 'default'


other = Celery('other')
other.config_from_object(Config)
print(other.conf.task_acks_late)      # -> True
print(other.conf.task_default_queue)  # -> default
# [end from-object]

# [namespace]
class DjangoSettings:
    """What a Django settings module looks like: uppercase, prefixed names."""
    CELERY_BROKER_URL = 'memory://'
    CELERY_TASK_TIME_LIMIT = 300
    DEBUG = True                      # not ours: ignored


web = Celery('web')
web.config_from_object(DjangoSettings, namespace='CELERY')
print(web.conf.task_time_limit)   # -> 300
# [end namespace]

# [lazy]
lazy = Celery('lazy')


@lazy.task
def later():
    return 'ran'


print(lazy.finalized)             # -> False
print('lazy.later' in lazy.tasks)  # -> True
print(lazy.finalized)             # -> True
# [end lazy]

# [base-task]
from celery import Task


class ReportingTask(Task):
    """Base class of every task of ``reporting``: reports failures."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Runs where the task ran: in the worker (here: eagerly, in place).
        print(f'{self.name} failed: {exc!r}')


reporting = Celery('reporting', task_cls=ReportingTask)


@reporting.task
def divide(x, y):
    return x / y


outcome = divide.delay(1, 0)
# -> reporting.divide failed: ZeroDivisionError('division by zero')
print(outcome.failed())           # -> True
# [end base-task]
