"""Result backends: where task states and return values are stored.

Pick one with the ``result_backend`` setting (see
:mod:`celery.app.backends` for the URL schemes); each store lives in its
own module so that only the client library of the one in use is imported.
"""
from __future__ import annotations

__all__: tuple = ()
