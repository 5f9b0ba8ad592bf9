"""The ``celery`` command line (click)."""
