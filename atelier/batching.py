"""Concurrent calls that can share one call: the searches of many people, sent to Milvus together.

Milvus Lite pays a large fixed cost per search call at catalog scale (about 130-160 ms at 100k products here)
and little per extra query vector in the same call (16 vectors: about 210 ms), so searches that arrive while
one is in flight wait for it and then go out as one call, as Triton's dynamic batcher does for the models.
Nothing waits on purpose: a search alone is sent at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any


class CallBatcher:
    """`submit(key, item, run)`: `run(items)` -> one result per item, called with every item submitted under
    `key` since the last call for that key began; one call per key in flight at a time. An exception in `run`
    is raised to every caller whose item it held."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: dict[Hashable, list[tuple[Any, Future]]] = defaultdict(list)
        self._running: set[Hashable] = set()

    def submit(self, key: Hashable, item: Any, run: Callable[[list[Any]], Sequence[Any]]) -> Any:
        mine: Future = Future()
        with self._changed:
            self._waiting[key].append((item, mine))
            while key in self._running and not mine.done():
                self._changed.wait()
            if mine.done():  # another caller's call carried this item
                return mine.result()
            self._running.add(key)
            batch = self._waiting.pop(key)
        try:
            results = run([item for item, _ in batch])
            outcome = [(future, result, None) for (_, future), result in zip(batch, results, strict=True)]
        except Exception as error:
            outcome = [(future, None, error) for _, future in batch]
        with self._changed:
            for future, result, error in outcome:
                future.set_exception(error) if error is not None else future.set_result(result)
            self._running.discard(key)
            self._changed.notify_all()
        return mine.result()
