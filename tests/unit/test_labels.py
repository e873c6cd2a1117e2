"""Zero-shot labels with a fake CLIP whose embeddings are one-hot per word, so every probability is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atelier.config import AtelierError
from atelier.labels import LABEL_SET, TRUSTED_ACCURACY, UNKNOWN, ZeroShotLabeler, label_fields, trusted_attributes
from atelier.triton_client import EmbeddingModel
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS
from evaluation.labels import NO_GROUND_TRUTH, evaluate_labels, measured_accuracy

AXES = {"red": 0, "blue": 1, "navy": 2, "shirt": 3, "skirt": 4, "long-sleeved": 5, "short-sleeved": 6, "photo": 7}
MODEL = EmbeddingModel("fake-clip", "0" * 64, len(AXES))
SET = {"color": {"red": ("red",), "blue": ("blue", "navy")}, "garment": {"shirt": ("shirt",), "skirt": ("skirt",)},
       "sleeve": {"long": ("long-sleeved",), "short": ("short-sleeved",)}}
TEMPLATES = ("a {color} {garment}", "a photo of a {color} {garment}", "a {sleeve} top", "a photo of a {sleeve} top")
DERIVED = {"category": ("garment", {"shirt": "tops", "skirt": "bottoms"})}


def unit(*words: str) -> np.ndarray:
    vector = np.zeros(len(AXES), np.float32)
    for word in words:
        vector[AXES[word]] += 1
    return vector / np.linalg.norm(vector)


class FakeClip:
    """Texts embed as the normalised sum of their known words; images are given as lists of words."""

    def __init__(self, model: EmbeddingModel = MODEL) -> None:
        self.model = model
        self.text_calls = 0

    def embed_texts(self, texts: list[str]) -> tuple[np.ndarray, EmbeddingModel]:
        self.text_calls += 1
        return np.stack([unit(*(w for w in text.split() if w in AXES)) for text in texts]), self.model

    def embed_images(self, images: list[bytes]) -> tuple[np.ndarray, EmbeddingModel]:
        return np.stack([unit(*image.decode().split()) for image in images]), self.model


def labeler(clip: FakeClip | None = None, label_set: dict = SET, **options) -> ZeroShotLabeler:
    return ZeroShotLabeler(clip or FakeClip(), label_set, TEMPLATES, DERIVED, **options)


@pytest.mark.parametrize(("color", "garment", "sleeve"), [("red", "shirt", "long-sleeved"),
                                                          ("blue", "skirt", "short-sleeved"),
                                                          ("navy", "shirt", "short-sleeved")])
def test_the_labeler_picks_each_attributes_value(color, garment, sleeve):
    [labels] = labeler().label_embeddings(unit(color, garment, sleeve)[None], MODEL)
    assert labels["color"]["value"] == ("red" if color == "red" else "blue")
    assert labels["garment"]["value"] == garment
    # a skirt has no sleeves (APPLIES_TO): its sleeve label is unknown, though the scores still show what came first
    assert labels["sleeve"]["value"] == (sleeve.removesuffix("-sleeved") if garment == "shirt" else UNKNOWN)
    assert max(labels["sleeve"]["scores"], key=labels["sleeve"]["scores"].get) == sleeve.removesuffix("-sleeved")
    assert labels["category"]["value"] == DERIVED["category"][1][garment]
    assert all(label["confidence"] > 0.9 for label in labels.values())


def test_scores_are_softmax_probabilities_over_each_attributes_values():
    images = np.stack([unit("red", "skirt", "long-sleeved"), unit("blue", "shirt"), unit("photo")])
    for labels in labeler().label_embeddings(images, MODEL):
        assert set(labels) == {"color", "garment", "sleeve", "category"}
        for attribute, label in labels.items():
            assert list(label["scores"]) == labeler().values[attribute]
            assert sum(label["scores"].values()) == pytest.approx(1, abs=1e-6)
            assert label["confidence"] == max(label["scores"].values())


def test_a_joint_heads_marginals_and_the_derived_attribute_sum_the_class_probabilities():
    lab = labeler(logit_scale=10.0)
    image = unit("blue", "shirt", "long-sleeved")
    joint = lab.heads[0]
    assert joint.attributes == ("color", "garment") and len(joint.classes) == 4
    logits = 10.0 * lab.prototypes(MODEL)[0] @ image
    probabilities = np.exp(logits) / np.exp(logits).sum()
    found = lab.probabilities(image[None], MODEL)
    colour = {c: sum(p for (cc, _), p in zip(joint.classes, probabilities) if cc == c) for c in ("red", "blue")}
    assert found["color"][0] == pytest.approx([colour["red"], colour["blue"]], abs=1e-6)
    assert found["category"][0] == pytest.approx(found["garment"][0], abs=1e-6)  # one garment per category


def test_a_prototype_averages_its_templates_and_phrasings_and_is_renormalised():
    lab = labeler()
    joint = lab.heads[0]
    assert lab.prompts(joint, ("blue", "shirt")) == ["a blue shirt", "a photo of a blue shirt", "a navy shirt",
                                                     "a photo of a navy shirt"]
    mean = unit("blue", "shirt") + unit("blue", "shirt", "photo") + unit("navy", "shirt") + unit("navy", "shirt",
                                                                                                 "photo")
    prototype = lab.prototypes(MODEL)[0][joint.classes.index(("blue", "shirt"))]
    assert prototype == pytest.approx(mean / np.linalg.norm(mean), abs=1e-6)
    sleeve = lab.prototypes(MODEL)[1][0]
    expected = unit("long-sleeved") + unit("long-sleeved", "photo")
    assert sleeve == pytest.approx(expected / np.linalg.norm(expected), abs=1e-6)


def test_prompts_are_embedded_once_per_model():
    clip = FakeClip()
    lab = labeler(clip)
    for _ in range(3):
        lab.label_embeddings(unit("red", "shirt")[None], MODEL)
    assert clip.text_calls == 1


def test_embeddings_of_another_model_are_refused():
    other = EmbeddingModel("other-clip", "1" * 64, len(AXES))
    with pytest.raises(AtelierError, match="text model is fake-clip"):
        labeler().label_embeddings(unit("red")[None], other)
    with pytest.raises(AtelierError, match="shape"):
        labeler().label_embeddings(np.ones((2, 3)), MODEL)


def test_a_confidence_below_the_threshold_is_reported_unknown_with_its_scores():
    image = unit("shirt", "long-sleeved")[None]  # names no colour: red and blue tie
    plain_colours = {**SET, "color": {"red": ("red",), "blue": ("blue",)}}
    [labels] = labeler(label_set=plain_colours, min_confidence=0.6).label_embeddings(image, MODEL)
    assert labels["color"]["value"] == UNKNOWN
    assert labels["color"]["confidence"] == pytest.approx(0.5, abs=1e-3)
    assert labels["color"]["scores"]["red"] == pytest.approx(0.5, abs=1e-3)
    assert labels["garment"]["value"] == "shirt"
    [labels] = labeler(label_set=plain_colours, min_confidence=0.4).label_embeddings(image, MODEL)
    assert labels["color"]["value"] in ("red", "blue")


def test_label_images_embeds_through_the_image_model():
    labels = labeler().label_images([b"red skirt short-sleeved", b"navy shirt long-sleeved"])
    assert [(la["color"]["value"], la["garment"]["value"], la["category"]["value"]) for la in labels] == [
        ("red", "skirt", "bottoms"), ("blue", "shirt", "tops")]


def test_label_fields_flatten_labels_into_catalog_fields():
    [labels] = labeler().label_images([b"red skirt short-sleeved"])
    fields = label_fields(labels)
    assert fields["label_color"] == "red" and fields["label_category"] == "bottoms"
    assert 0.9 < fields["label_color_confidence"] <= 1
    assert len(fields) == 2 * len(labels)


@pytest.mark.parametrize(("templates", "derived", "message"), [
    (TEMPLATES[:2], DERIVED, "'sleeve' must be named"),
    ((*TEMPLATES, "a {color} item"), DERIVED, "'color' must be named .* not 2"),
    ((*TEMPLATES, "a {fit} top"), DERIVED, r"not in the label set: \['fit'\]"),
    (TEMPLATES, {"category": ("garment", {"shirt": "tops"})}, "derived attribute 'category'"),
])
def test_an_inconsistent_label_set_is_refused(templates, derived, message):
    with pytest.raises(ValueError, match=message):
        ZeroShotLabeler(FakeClip(), SET, templates, derived)


def test_the_default_label_set_covers_the_demo_catalog():
    lab = ZeroShotLabeler(FakeClip())
    assert set(LABEL_SET["garment"]) == set(GARMENTS) and set(LABEL_SET["color"]) == set(COLOURS)
    assert set(LABEL_SET["pattern"]) == set(PATTERNS)
    assert set(lab.values["category"]) == set(GARMENTS.values())
    assert {"sleeve", "neckline", "occasion", "style"} <= set(lab.values)


def test_evaluate_labels_scores_top1_against_the_catalog(tmp_path):
    rows = [("a", "red", "shirt", "long-sleeved"), ("b", "red", "skirt", "short-sleeved"),
            ("c", "blue", "skirt", "long-sleeved"), ("d", "blue", "shirt", "short-sleeved")]
    seen = {"a": "red shirt long-sleeved", "b": "red shirt short-sleeved",  # b: a skirt seen as a shirt
            "c": "blue skirt long-sleeved", "d": "blue shirt short-sleeved"}
    for pid, *_ in rows:
        (tmp_path / f"{pid}.png").write_bytes(seen[pid].encode())
    frame = pd.DataFrame([{"id": p, "color": c, "garment": g, "image": f"{p}.png"} for p, c, g, _ in rows])
    frame.to_csv(tmp_path / "catalog.csv", index=False)
    report = evaluate_labels(tmp_path / "catalog.csv", FakeClip(), split="all", labeler=labeler())
    assert report["products"] == 4
    garment, color = report["attributes"]["garment"], report["attributes"]["color"]
    assert color["accuracy"] == 1.0 and garment["accuracy"] == 0.75
    assert garment["chance"] == 0.5 and garment["majority"] == 0.5
    assert garment["top_confusions"] == [{"true": "skirt", "predicted": "shirt", "count": 1}]
    assert report["attributes"]["category"]["note"] == NO_GROUND_TRUTH  # no category column in this catalog
    # the demo drawer gives shirts long sleeves and skirts none: the two shirts are scored, d's short sleeves wrong
    sleeve = report["attributes"]["sleeve"]
    assert sleeve["evaluated"] == 2 and sleeve["accuracy"] == 0.5
    assert sleeve["distribution"] == {"short": 2, "long": 1, UNKNOWN: 1}  # c, a skirt seen as one, has no sleeve
    assert measured_accuracy(report)["sleeve"] == 0.5 and measured_accuracy(report)["category"] is None



def test_only_labels_measured_at_the_trusted_accuracy_are_trusted():
    assert trusted_attributes({"garment": 0.97, "sleeve": TRUSTED_ACCURACY, "neckline": 0.6, "style": None}) == (
        "garment", "sleeve")
    assert trusted_attributes({}) == () and trusted_attributes(None) == ()
