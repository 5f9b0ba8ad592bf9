"""User guide, configuration: the ways settings reach an app."""
import os

from celery import Celery
from celery.exceptions import ImproperlyConfigured

# [module]
app = Celery('proj')
app.config_from_object('celeryconfig')       # a module name, a module or a class
print(app.conf.task_acks_late)               # -> True
print(app.conf.worker_prefetch_multiplier)   # -> 1
print(app.conf.task_default_queue)           # -> celery
# [end module]

# [envvar]
os.environ['PROJ_SETTINGS'] = 'celeryconfig'
from_env = Celery('proj')
from_env.config_from_envvar('PROJ_SETTINGS')
print(from_env.conf.timezone)                # -> UTC
# [end envvar]

# [old-names]
legacy = Celery('legacy')
legacy.config_from_object('oldconfig')
print(legacy.conf.task_serializer)           # -> json
print(legacy.conf.worker_prefetch_multiplier)  # -> 1
# [end old-names]

# [namespace]
class Settings:
    CELERY_BROKER_URL = 'redis://localhost:6379/0'
    CELERY_TASK_ALWAYS_EAGER = False
    CELERY_WORKER_CONCURRENCY = 8


django_like = Celery('site')
django_like.config_from_object(Settings, namespace='CELERY')
print(django_like.conf.worker_concurrency)   # -> 8
# [end namespace]

# [mixed]
mixed = Celery('mixed')
mixed.config_from_object('mixedconfig')
try:
    mixed.conf.task_acks_late
except ImproperlyConfigured as exc:
    print('refused:', type(exc).__name__)    # -> refused: ImproperlyConfigured
# [end mixed]

# [precedence]
layered = Celery('layered', broker='memory://')  # constructor arguments ...
layered.config_from_object('celeryconfig')       # ... win over the source,
layered.conf.timezone = 'Europe/Paris'           # and so do assignments.
print(layered.conf.broker_url, layered.conf.timezone)  # -> memory:// Europe/Paris
# [end precedence]
