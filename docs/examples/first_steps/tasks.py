"""The first-steps application: a broker and a result store that need no server.

Messages are files under ``broker/`` and results rows in ``results.sqlite``,
both relative to the directory the worker and the client are started from.
"""
from pathlib import Path

from celery import Celery

# The file-system transport does not create its folders itself.
for folder in ('broker/out', 'broker/processed', 'broker/control'):
    Path(folder).mkdir(parents=True, exist_ok=True)

app = Celery(
    'tasks',
    broker='filesystem://',
    backend='db+sqlite:///results.sqlite',
)
app.conf.broker_transport_options = {
    'data_folder_in': 'broker/out',       # where the worker reads messages
    'data_folder_out': 'broker/out',      # where clients write them
    'store_processed': True,              # keep a copy of each consumed message
    'processed_folder': 'broker/processed',
    'control_folder': 'broker/control',   # exchange bindings (remote control)
}


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y
