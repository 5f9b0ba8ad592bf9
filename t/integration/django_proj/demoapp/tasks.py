import os

from celery import shared_task
from django.conf import settings
from django.db import connection

from .models import Widget


@shared_task
def add(x, y):
    return x + y


@shared_task
def create_widget(name):
    """Write to the database; return the new row's id."""
    return Widget.objects.create(name=name).pk


@shared_task
def widget_names():
    return sorted(Widget.objects.values_list('name', flat=True))


@shared_task
def runtime_info():
    """What the worker process sees of Django."""
    from django.utils import timezone
    return {
        'settings_module': os.environ.get('DJANGO_SETTINGS_MODULE'),
        'time_zone': settings.TIME_ZONE,
        'aware_now': timezone.is_aware(timezone.now()),
        'connection_open': connection.connection is not None,
    }
