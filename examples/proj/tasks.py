"""Tasks of the example project."""
from __future__ import annotations

from celery.utils.log import get_task_logger

from .celery import app

logger = get_task_logger(__name__)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def mul(x: int, y: int) -> int:
    return x * y


@app.task
def xsum(numbers: list) -> int:
    return sum(numbers)


@app.task(bind=True, max_retries=3, default_retry_delay=0.1)
def flaky(self, attempts_needed: int) -> str:
    """Fail ``attempts_needed`` times, retrying, then succeed."""
    if self.request.retries < attempts_needed:
        logger.info('flaky: attempt %s failed, retrying', self.request.retries + 1)
        raise self.retry(exc=OSError('not yet'))
    return f'succeeded after {self.request.retries} retries'
