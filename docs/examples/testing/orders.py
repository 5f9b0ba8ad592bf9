"""Tasks of a small shop, the code under test in the testing guide."""
from celery import shared_task

STOCK = {'apple': 3, 'pear': 0}


class OutOfStock(Exception):
    """Raised when an order asks for more than there is."""


@shared_task
def reserve(product, quantity):
    if STOCK.get(product, 0) < quantity:
        raise OutOfStock(f'only {STOCK.get(product, 0)} {product} left')
    return quantity
