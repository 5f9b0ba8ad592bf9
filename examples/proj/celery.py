"""The app of the example project.

The broker and result backend come from the environment
(``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND``); without them the
embedded broker (kombu's filesystem transport, folders under
``PROJ_DATA_DIR``) and a SQLite result store are used, so no service is
needed.
"""
from __future__ import annotations

import os
import tempfile

from celery import Celery

DATA_DIR = os.environ.get('PROJ_DATA_DIR') or os.path.join(tempfile.gettempdir(), 'proj-data')
BROKER_DIR = os.path.join(DATA_DIR, 'broker')
for sub in ('in', 'processed', 'control'):
    os.makedirs(os.path.join(BROKER_DIR, sub), exist_ok=True)

app = Celery(
    'proj',
    broker='filesystem://',
    backend=f'db+sqlite:///{os.path.join(DATA_DIR, "results.sqlite")}',
    include=['proj.tasks'],
)
app.conf.update(
    broker_transport_options={
        'data_folder_in': os.path.join(BROKER_DIR, 'in'),
        'data_folder_out': os.path.join(BROKER_DIR, 'in'),
        'processed_folder': os.path.join(BROKER_DIR, 'processed'),
        'control_folder': os.path.join(BROKER_DIR, 'control'),
        'store_processed': False,
        'polling_interval': 0.05,
    },
    result_expires=3600,
    result_extended=True,
)

if __name__ == '__main__':
    app.start()
