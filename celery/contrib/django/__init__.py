"""Django integration that needs Django itself (see :mod:`celery.fixups.django`)."""
