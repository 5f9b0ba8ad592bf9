"""A configuration module: every lower-case name of a setting is read."""
broker_url = 'redis://localhost:6379/0'
result_backend = 'redis://localhost:6379/1'

task_serializer = 'json'
accept_content = ['json']
task_acks_late = True
worker_prefetch_multiplier = 1
timezone = 'UTC'
