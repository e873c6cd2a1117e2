"""A Milvus connection left idle, as a dashboard between two searches, still answers."""

from __future__ import annotations

import time

import pytest

from atelier.catalog_store import connect

pytestmark = pytest.mark.integration


def test_a_connection_idle_for_two_minutes_still_answers(milvus_uri: str) -> None:
    # With pymilvus' own keepalive (a ping every 10 s) the server closed the channel after about 100 s idle and the
    # next call failed with "too many pings".
    before = connect(milvus_uri).list_collections()
    time.sleep(120)
    assert connect(milvus_uri).list_collections() == before
