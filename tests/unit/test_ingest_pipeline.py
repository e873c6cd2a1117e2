"""The ingest pipeline's own logic: the same-picture index and the batches prepared ahead."""

from __future__ import annotations

import threading

import numpy as np

from atelier.images import PICTURE_TOLERANCE
from ingest.pipeline import Pictures, prepared_ahead


def _stored(product_id: str, print_: np.ndarray) -> dict[str, str]:
    return {"id": product_id, "image_fingerprint": print_.astype(np.uint8).tobytes().hex()}


def test_the_same_picture_is_found_across_the_steps_it_is_filed_under() -> None:
    base = np.full(192, 100, dtype=np.int16)  # channel means 100: the edge of a step (100 // 5 == 20)
    pictures = Pictures([_stored("a", base)])
    assert pictures.owner("b", base - PICTURE_TOLERANCE) == "a"  # filed a step lower, still the same picture
    assert pictures.owner("b", base + PICTURE_TOLERANCE) == "a"
    assert pictures.owner("a", base) is None  # a product is not its own duplicate
    assert pictures.owner("b", base + PICTURE_TOLERANCE + 1) is None
    other = base.copy()
    other[7] += 40  # one cell far off: another picture with nearly the same means
    assert pictures.owner("b", other) is None
    pictures.add("c", other.astype(np.uint8))
    assert pictures.owner("d", other) == "c"


def test_rows_without_a_fingerprint_are_not_filed() -> None:
    assert Pictures([{"id": "a", "image_fingerprint": ""}]).filed == {}


def test_batches_are_prepared_in_order_one_ahead_in_another_thread() -> None:
    threads, seen = set(), []

    def prepare(batch: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        return [item * 10 for item in batch]

    for result in prepared_ahead(iter([[1, 2], [3], [4, 5]]), prepare):
        seen.append(result)
    assert seen == [[10, 20], [30], [40, 50]]
    assert threading.current_thread().name not in threads
