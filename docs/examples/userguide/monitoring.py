"""User guide, monitoring: a script that reports task failures from the event stream."""
from celery import Celery

app = Celery('proj', broker='redis://localhost:6379/0')


def watch_failures(app, count=None):
    """Print each task failure as it is reported; return after ``count`` of them."""
    seen = 0

    def on_failure(event):
        nonlocal seen
        print(f"task {event['uuid']} failed on {event['hostname']}: {event['exception']}")
        seen += 1
        if count is not None and seen >= count:
            receiver.should_stop = True

    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={'task-failed': on_failure})
        receiver.capture(limit=None, timeout=None, wakeup=True)


if __name__ == '__main__':
    watch_failures(app)
