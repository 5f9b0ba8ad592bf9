"""Old and new names in one source: refused."""
BROKER_URL = 'redis://localhost:6379/0'
task_acks_late = True
