"""Settings for the first-steps app, read with ``app.config_from_object('celeryconfig')``."""
broker_url = 'filesystem://'
result_backend = 'db+sqlite:///results.sqlite'

task_serializer = 'json'
result_serializer = 'json'
accept_content = ['json']
timezone = 'Europe/Oslo'
enable_utc = True

# Keep results for an hour instead of a day.
result_expires = 3600
