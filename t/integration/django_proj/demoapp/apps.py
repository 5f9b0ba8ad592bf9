from django.apps import AppConfig


class DemoAppConfig(AppConfig):
    # The app config's name is the package autodiscover_tasks() looks in.
    name = 'demoapp'
    verbose_name = 'Demo app'
