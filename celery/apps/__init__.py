"""The programs behind the ``celery worker``, ``beat`` and ``multi`` commands."""
