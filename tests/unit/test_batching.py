"""CallBatcher: calls that arrive while one is in flight go out together, each caller gets its own result."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from atelier.batching import CallBatcher


def test_calls_arriving_during_one_in_flight_share_the_next_call_and_get_their_own_results():
    batcher, calls, release = CallBatcher(), [], threading.Event()

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
        return [item * 10 for item in items]

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.submit, "k", 0, run)
        while not calls:
            time.sleep(0.01)
        rest = [pool.submit(batcher.submit, "k", n, run) for n in range(1, 7)]
        time.sleep(0.2)  # all six are waiting behind the first call
        release.set()
        assert first.result() == 0 and [future.result() for future in rest] == [10, 20, 30, 40, 50, 60]
    assert calls[0] == [0] and sorted(calls[1]) == [1, 2, 3, 4, 5, 6] and len(calls) == 2


def test_other_keys_do_not_wait_and_a_failure_reaches_every_caller_it_held():
    batcher = CallBatcher()
    assert batcher.submit("a", 1, lambda items: [item + 1 for item in items]) == 2

    def broken(items):
        raise RuntimeError("Milvus went away")

    with pytest.raises(RuntimeError, match="went away"):
        batcher.submit("b", 1, broken)
    assert batcher.submit("b", 2, lambda items: items) == 2  # the key is free again after a failure
