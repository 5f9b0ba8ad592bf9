"""Tests for celery.utils.uuid: task ids made in batches."""
from __future__ import annotations

import os
import sys
import threading
import uuid as std_uuid

import pytest

from celery.utils.uuid import uuid
from t.forking import in_forked_child

uuid_module = sys.modules['celery.utils.uuid']  # celery.utils.uuid is the function


def test_ids_are_version_4_uuid_text():
    for _ in range(3 * uuid_module.BATCH):
        text = uuid()
        parsed = std_uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == std_uuid.RFC_4122


def test_ids_are_unique_across_threads():
    # Given four threads taking ids at once
    out: list[str] = []

    def take():
        out.extend(uuid() for _ in range(2000))
    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no id was handed out twice
    assert len(set(out)) == 8000


def test_another_generator_is_used_as_is():
    assert uuid(lambda: 'fixed') == 'fixed'


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork')
def test_a_forked_child_does_not_repeat_the_parents_ids():
    # Given a parent with ids made in advance
    uuid()
    assert uuid_module._ready
    _, child_id = in_forked_child(uuid)
    # Then the child's first id is not the one the parent hands out next
    assert std_uuid.UUID(child_id)
    assert child_id != uuid()
