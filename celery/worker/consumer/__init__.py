"""The worker's consumer and its steps."""
from __future__ import annotations

from celery.worker.consumer.agent import Agent
from celery.worker.consumer.connection import Connection
from celery.worker.consumer.consumer import Consumer
from celery.worker.consumer.control import Control
from celery.worker.consumer.events import Events
from celery.worker.consumer.gossip import Gossip
from celery.worker.consumer.heart import Heart
from celery.worker.consumer.mingle import Mingle
from celery.worker.consumer.tasks import Tasks

__all__ = ('Consumer', 'Agent', 'Connection', 'Control', 'Events', 'Gossip',
           'Heart', 'Mingle', 'Tasks')
