"""User guide, tasks: defining tasks, binding, retrying and base classes."""
import sqlite3

from celery import Celery, shared_task

app = Celery('proj', broker='memory://', backend='cache+memory://')

# [define]
@app.task
def add(x, y):
    return x + y


@app.task(name='billing.charge', ignore_result=True, rate_limit='10/m')
def charge(customer_id, amount):
    ...


print(add.name)                   # -> proj.add
print(charge.name)                # -> billing.charge
print(add(2, 3))                  # -> 5
# [end define]

# [shared]
@shared_task
def double(x):
    return x * 2


print(double.delay(21).get(timeout=10))  # -> 42
# [end shared]

# [bound]
@app.task(bind=True)
def whoami(self):
    return f'{self.name}: attempt {self.request.retries + 1}'


print(whoami.delay().get(timeout=10))  # -> proj.whoami: attempt 1
# [end bound]


# [retry]
def download(url, attempt):
    """Stand-in for a network call that fails on the first two attempts."""
    if attempt < 2:
        raise ConnectionError(f'{url} did not answer')
    return f'contents of {url}'


@app.task(bind=True, max_retries=3, default_retry_delay=10)
def fetch(self, url):
    try:
        return download(url, attempt=self.request.retries)
    except ConnectionError as exc:
        raise self.retry(exc=exc)


print(fetch.delay('https://example.com').get(timeout=10))
# -> contents of https://example.com
# [end retry]

# [retry-exhausted]
@app.task(bind=True, max_retries=1, default_retry_delay=0)
def always_down(self):
    raise self.retry(exc=ConnectionError('still down'))


try:
    always_down.delay().get(timeout=10)
except ConnectionError as exc:
    print('gave up:', exc)        # -> gave up: still down
# [end retry-exhausted]

# [autoretry]
@app.task(autoretry_for=(ConnectionError,), retry_backoff=True,
          retry_kwargs={'max_retries': 5}, bind=True)
def fetch_again(self, url):
    return download(url, attempt=self.request.retries)


print(fetch_again.delay('https://example.org').get(timeout=10))
# -> contents of https://example.org
# [end autoretry]


# [base-class]
class DatabaseTask(app.Task):
    """Opens one connection per worker process, on first use."""

    _db = None

    @property
    def db(self):
        if self._db is None:
            self._db = sqlite3.connect(':memory:')
        return self._db


@app.task(base=DatabaseTask, bind=True)
def answer(self):
    return self.db.execute('SELECT 6 * 7').fetchone()[0]


print(answer.delay().get(timeout=10))  # -> 42
# [end base-class]

# [states]
@app.task(bind=True)
def progress(self, total):
    for done in range(1, total + 1):
        self.update_state(state='PROGRESS', meta={'done': done, 'total': total})
    return total


print(progress.delay(3).get(timeout=10))  # -> 3
# [end states]
