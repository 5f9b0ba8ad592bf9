"""User guide, routing: queues, routes and how a call picks its queue."""
from kombu import Exchange, Queue

from celery import Celery

app = Celery('proj', broker='memory://')


@app.task
def add(x, y):
    return x + y


@app.task(name='feeds.import_feed')
def import_feed(url):
    return url


@app.task(name='video.transcode')
def transcode(path):
    return path


# [routes]
app.conf.task_routes = {
    'feeds.*': {'queue': 'feeds'},                 # glob patterns match task names
    'video.transcode': {'queue': 'video', 'priority': 5},
}
# [end routes]

# [queues]
app.conf.task_default_queue = 'default'
app.conf.task_queues = (
    Queue('default', Exchange('default'), routing_key='default'),
    Queue('feeds', Exchange('feeds'), routing_key='feeds'),
    Queue('video', Exchange('media', type='topic'), routing_key='media.video'),
)
# [end queues]


# [router-function]
def route_by_size(name, args, kwargs, options, task=None, **kw):
    """Send big transcoding jobs to a queue of their own."""
    if name == 'video.transcode' and kwargs.get('size', 0) > 10**9:
        return {'queue': 'video.large'}
    return None                                    # let the next router decide


app.conf.task_routes = (route_by_size, app.conf.task_routes)
# [end router-function]

# [check]
def queue_of(task, args=(), kwargs=None, **options):
    """Where a call would go, without sending it."""
    route = app.amqp.router.route(options, task.name, args, kwargs or {})
    return route['queue'].name


print(queue_of(add, (1, 2)))                               # -> default
print(queue_of(import_feed, ('https://example.com/rss',)))  # -> feeds
print(queue_of(transcode, ('a.mp4',)))                     # -> video
print(queue_of(transcode, ('b.mp4',), {'size': 2 * 10**9}))  # -> video.large
print(queue_of(add, (1, 2), queue='feeds'))                # -> feeds
# [end check]
