"""The retrieval evaluation's queries and precision, on small hand-made rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from atelier.vocabulary import typed
from evaluation.retrieval import _precision, _targets, precision_report


def test_typed_queries_are_what_people_type():
    assert typed({"color": "navy", "garment": "trousers"}) == "navy trousers"
    assert typed({"color": "red", "pattern": "polka dot", "garment": "coat"}) == "red polka-dot coat"
    assert typed({"pattern": "solid", "garment": "dress"}) == "plain dress"
    assert typed({"category": "tops"}) == "tops"


def test_precision_is_measured_against_the_garment_first_ranking():
    frame = pd.DataFrame({"garment": ["trousers", "trousers", "shirt", "trousers"],
                          "color": ["red", "navy", "navy", "navy"]})
    query = {"garment": "trousers", "color": "navy"}
    found, best = _precision(np.array([2, 0, 1, 3]), frame, query)  # the navy shirt first: colour before garment
    assert best == {"garment": 0.75, "color": 0.75}  # the whole gallery is the top 10: three trousers, three navy
    assert found == best
    shirt_first = ({"garment": 0.25, "color": 1.0}, best)  # a ranking with more navy than garment-first allows
    report = precision_report([(found, best), shirt_first])
    assert report["precision@10"] == {"garment": 0.5, "color": 0.875}
    assert report["of_attainable"] == {"garment": round(1.0 / 1.5, 4), "color": 1.0}  # extra colour counts no more


def test_composed_targets_change_exactly_what_their_words_say():
    key = ("shirt", "red", "striped")
    assert (("dress", "red", "striped"), "as a dress") in _targets("other garment", key)
    assert (("shirt", "black", "striped"), "in black") in _targets("other colour", key)
    assert (("shirt", "red", "solid"), "in a plain colour") in _targets("other pattern", key)
    assert (("dress", "black", "striped"), "black dress") in _targets("conflicting colour and garment", key)
    for kind in ("other garment", "other colour", "other pattern", "conflicting colour and garment"):
        assert all(target != key for target, _ in _targets(kind, key))
