"""User guide, calling tasks: delay, apply_async and its options, callbacks."""
from datetime import datetime, timedelta, timezone

from celery import Celery

app = Celery('proj', broker='memory://', backend='cache+memory://')


@app.task
def add(x, y):
    return x + y


@app.task
def record(value, label):
    print(f'{label}: {value}')


# [delay]
result = add.delay(2, 2)                 # positional and keyword arguments as usual
same = add.apply_async((2, 2))           # arguments as a tuple and a dict, plus options
print(result.get(timeout=10), same.get(timeout=10))  # -> 4 4
# [end delay]

# [options]
add.apply_async((1, 1), countdown=10)    # not before 10 seconds from now
add.apply_async((1, 1), eta=datetime.now(timezone.utc) + timedelta(hours=1))
add.apply_async((1, 1), expires=60)      # discard if not started within a minute
add.apply_async((1, 1), queue='priority.high', priority=9)
add.apply_async((1, 1), serializer='json', compression='zlib')
add.apply_async((1, 1), retry=True, retry_policy={
    'max_retries': 3,        # publishing attempts when the broker is unreachable
    'interval_start': 0,     # first retry at once,
    'interval_step': 0.5,    # then wait 0.5 s longer each time,
    'interval_max': 2,       # but never more than 2 s.
})
# [end options]

# [link]
add.apply_async((2, 2), link=record.s('sum'))
# -> sum: 4
add.apply_async((2, 2), link=add.s(10) | record.s('sum plus ten'))
# -> sum plus ten: 14
# [end link]

# [state]
result = add.delay(20, 22)
print(result.get(timeout=10))            # -> 42
print(result.state, result.ready(), result.successful())  # -> SUCCESS True True
# [end state]

# [locally]
print(add.apply((3, 4)).get())           # -> 7
print(add(3, 4))                         # -> 7
# [end locally]

# [by-name]
pending = app.send_task('proj.add', args=(2, 2), queue='math')
print(pending.id is not None)            # -> True
# [end by-name]
