"""Tests of orders.py: in process, then on an embedded worker."""
import pytest

from orders import OutOfStock, reserve


# [in-process]
def test_reserve_in_process():
    # apply() runs the task here and now: no broker, no worker.
    assert reserve.apply(args=('apple', 2)).get() == 2


def test_reserve_out_of_stock_in_process():
    result = reserve.apply(args=('pear', 1))
    assert result.failed()
    with pytest.raises(OutOfStock, match='only 0 pear left'):
        result.get()
# [end in-process]


# [worker]
@pytest.fixture(scope='session')
def celery_config():
    return {
        'broker_url': 'memory://',
        'result_backend': 'cache+memory://',
    }


def test_reserve_on_a_worker(celery_app, celery_worker):
    assert reserve.delay('apple', 1).get(timeout=10) == 1


def test_failure_reaches_the_caller(celery_app, celery_worker):
    with pytest.raises(OutOfStock):
        reserve.delay('apple', 99).get(timeout=10)
# [end worker]
