"""Settings of the test project; services come from the environment."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = 'test-only-not-secret'
DEBUG = False
ALLOWED_HOSTS = ['*']
USE_TZ = True
TIME_ZONE = 'Europe/Paris'
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'

INSTALLED_APPS = [
    'django.contrib.contenttypes',
    'django.contrib.auth',
    'demoapp.apps.DemoAppConfig',
]

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': os.environ.get('DJANGO_PROJ_DB', str(BASE_DIR / 'db.sqlite3')),
        'CONN_MAX_AGE': 0,
    },
}

# Celery, read through app.config_from_object(..., namespace='CELERY').
CELERY_BROKER_URL = os.environ.get('DJANGO_PROJ_BROKER_URL', 'memory://')
CELERY_RESULT_BACKEND = os.environ.get('DJANGO_PROJ_RESULT_BACKEND', 'cache+memory://')
CELERY_TASK_DEFAULT_QUEUE = os.environ.get('DJANGO_PROJ_QUEUE', 'celery')
CELERY_TASK_SERIALIZER = 'json'
CELERY_ACCEPT_CONTENT = ['json']
CELERY_TIMEZONE = TIME_ZONE
CELERY_RESULT_EXTENDED = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A Django setting without the namespace prefix: must not reach Celery.
TASK_ALWAYS_EAGER = True
