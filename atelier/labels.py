"""Zero-shot fashion labels: category, garment, colour, pattern, sleeve, neckline, occasion, style.

CLIP's zero-shot recipe, through the same CLIP models that embed the catalog:

- each value of an attribute has one or more phrasings (pattern "solid": "solid", "plain"), and prompt
  templates name attributes as fields ("a product photo of {sleeve} clothing");
- a class is one value of each attribute a template names; its prompts are every template naming exactly
  those attributes, filled with every combination of the values' phrasings; the text model embeds them once
  per embedding model, and the class prototype is the mean of their unit embeddings, normalised again;
- an image's probabilities are a softmax over the classes of LOGIT_SCALE x the cosine similarity of its
  embedding with each prototype. 100 is the scale CLIP learns (clamped at 100); it shapes the confidences
  only and never changes which value wins.

Templates that name several attributes classify them jointly: "a photo of a {color} {pattern} {garment}"
has a class per (colour, pattern, garment), and each attribute's probabilities are the sums over the others
(the marginals). CLIP is trained on captions that describe a whole product, so it reads "a red striped
shirt" far better than "a red garment": on the demo catalog the trained tiny CLIP gets colour and pattern
right 98-99% of the time this way, against 68-75% with one template per attribute (evaluation/labels.py).
A derived attribute sums the probabilities of another one's values (category: the sum over its garments),
so a product is never labelled a dress in the category "tops".

A label is {"value", "confidence", "scores"}: the most probable value, its probability, and the probability
of every value. Below `min_confidence` the value is "unknown" (the scores still show what came first), and
an attribute that does not apply to the product's labelled category is "unknown" too (`APPLIES_TO`: trousers
have no neckline).

Which labels a model can be trusted with is measured, not assumed: `atelier eval labels` scores them against
a catalog's known values, `atelier up` records the figures of the demo's model in its export, and
`trusted_attributes` names those at TRUSTED_ACCURACY or above; the dashboard shows and filters only those.

Labeling takes image embeddings that were already computed, so ingest labels every product from the
embeddings it stores, without a second pass over the images.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Any, Protocol

import numpy as np

from atelier.config import AtelierError
from atelier.triton_client import EmbeddingModel
from atelier.vocabulary import COLOURS, GARMENTS, PATTERNS

LOGIT_SCALE = 100.0
MIN_CONFIDENCE = 0.3
UNKNOWN = "unknown"
FIELD_PREFIX = "label_"  # catalog fields: label_<attribute> and label_<attribute>_confidence

LabelSet = Mapping[str, Mapping[str, Sequence[str]]]  # attribute -> value -> phrasings used in prompts
Derived = Mapping[str, tuple[str, Mapping[str, str]]]  # attribute -> (source attribute, source value -> value)
Label = dict[str, Any]  # {"value": str, "confidence": float, "scores": {value: probability}}

LABEL_SET: LabelSet = {
    "garment": {g: (g,) for g in GARMENTS},
    "color": {c: (c,) for c in COLOURS},
    "pattern": {p: ("solid", "plain") if p == "solid" else (p,) for p in PATTERNS},
    "sleeve": {"sleeveless": ("sleeveless",), "short": ("short-sleeved", "short sleeve"),
               "long": ("long-sleeved", "long sleeve")},
    "neckline": {"crew": ("crew neck", "round neck"), "v-neck": ("v-neck",), "collar": ("collared", "shirt collar"),
                 "hood": ("hooded",), "turtleneck": ("turtleneck",), "strapless": ("strapless",)},
    "occasion": {"casual": ("casual days", "everyday"), "work": ("work", "the office"),
                 "formal": ("a formal event", "an evening event"), "party": ("a party", "a night out"),
                 "beach": ("the beach", "a summer holiday"), "sport": ("sport", "the gym")},
    "style": {"minimal": ("minimalist", "minimal"), "classic": ("classic", "timeless"),
              "street": ("streetwear", "urban street"), "boho": ("boho", "bohemian"),
              "sporty": ("sporty", "athleisure"), "romantic": ("romantic", "feminine")},
}
DERIVED: Derived = {"category": ("garment", GARMENTS)}
APPLIES_TO: Mapping[str, tuple[str, ...]] = {  # attribute -> the categories that have it
    "sleeve": ("tops", "dresses", "outerwear"), "neckline": ("tops", "dresses", "outerwear"),
}
TRUSTED_ACCURACY = 0.85
TEMPLATES: Sequence[str] = (
    "a photo of a {color} {pattern} {garment}", "a product photo of a {color} {pattern} {garment}",
    "a photo of a {sleeve} garment", "a product photo of {sleeve} clothing", "a {sleeve} top",
    "a photo of a {neckline} top", "a product photo of a {neckline} garment", "{neckline} clothing",
    "a photo of clothing for {occasion}", "an outfit for {occasion}", "what to wear for {occasion}",
    "a photo of a {style} outfit", "{style} style clothing", "a {style} fashion look",
)


class Embedder(Protocol):
    """What labeling needs of a CLIP model; TritonClient is one."""

    def embed_texts(self, texts: list[str]) -> tuple[np.ndarray, EmbeddingModel]: ...

    def embed_images(self, images: list[bytes]) -> tuple[np.ndarray, EmbeddingModel]: ...


@dataclass(frozen=True)
class Head:
    """Attributes classified together: one class per combination of their values, by the templates naming them."""

    attributes: tuple[str, ...]
    templates: tuple[str, ...]
    classes: tuple[tuple[str, ...], ...]  # one value per attribute, in itertools.product order
    members: tuple[np.ndarray, ...]  # per attribute, [classes, values]: 1 where the class has the value


def _fields(template: str) -> tuple[str, ...]:
    return tuple(sorted({name for _, name, _, _ in Formatter().parse(template) if name is not None}))


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


class ZeroShotLabeler:
    def __init__(
        self, embedder: Embedder, label_set: LabelSet = LABEL_SET, templates: Sequence[str] = TEMPLATES,
        derived: Derived = DERIVED, logit_scale: float = LOGIT_SCALE, min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        by_fields: dict[tuple[str, ...], list[str]] = {}
        for template in templates:
            by_fields.setdefault(_fields(template), []).append(template)
        named = [a for fields in by_fields for a in fields]
        for attribute, values in label_set.items():
            if named.count(attribute) != 1:
                raise ValueError(f"label attribute {attribute!r} must be named by the templates of exactly one "
                                 f"set of attributes, not {named.count(attribute)}")
            if len(values) < 2 or not all(values.values()):
                raise ValueError(f"label attribute {attribute!r} needs two values or more, each with a phrasing")
        if unknown := set(named) - set(label_set):
            raise ValueError(f"templates name attributes that are not in the label set: {sorted(unknown)}")
        self.values: dict[str, list[str]] = {a: list(values) for a, values in label_set.items()}
        self.heads: list[Head] = []
        for fields, group in by_fields.items():
            classes = tuple(itertools.product(*(self.values[a] for a in fields)))
            members = tuple(np.array([[c[i] == v for v in self.values[a]] for c in classes], np.float32)
                            for i, a in enumerate(fields))
            self.heads.append(Head(fields, tuple(group), classes, members))
        self._derived: dict[str, tuple[str, np.ndarray]] = {}  # attribute -> (source, [source values, values])
        for attribute, (source, mapping) in derived.items():
            if source not in label_set or attribute in label_set or set(label_set[source]) - set(mapping):
                raise ValueError(f"derived attribute {attribute!r} needs a new name and a value for every value of "
                                 f"a label attribute, not {source!r}")
            self.values[attribute] = list(dict.fromkeys(mapping[v] for v in label_set[source]))
            self._derived[attribute] = (source, np.array(
                [[mapping[s] == v for v in self.values[attribute]] for s in label_set[source]], np.float32))
        self.embedder = embedder
        self.label_set = label_set
        self.logit_scale = logit_scale
        self.min_confidence = min_confidence
        self._prototypes: dict[EmbeddingModel, list[np.ndarray]] = {}

    def prompts(self, head: Head, values: tuple[str, ...]) -> list[str]:
        """The prompts of one class: every template of `head` with every combination of the values' phrasings."""
        phrasings = itertools.product(*(self.label_set[a][v] for a, v in zip(head.attributes, values)))
        return [t.format(**dict(zip(head.attributes, words))) for words in phrasings for t in head.templates]

    def prototypes(self, model: EmbeddingModel) -> list[np.ndarray]:
        """Per head, [classes, dim] unit prototypes from `model`'s text tower; embedded once per model."""
        if model not in self._prototypes:
            groups = [self.prompts(head, values) for head in self.heads for values in head.classes]
            embeddings, served = self.embedder.embed_texts([prompt for group in groups for prompt in group])
            if served != model:
                raise AtelierError(f"the image embeddings come from {model}, but the text model is {served}; "
                                   "label with the model that embedded the images")
            ends = np.cumsum([len(group) for group in groups])
            means = np.stack([embeddings[end - len(group) : end].mean(axis=0) for group, end in zip(groups, ends)])
            means /= np.linalg.norm(means, axis=1, keepdims=True)
            bounds = np.cumsum([0] + [len(head.classes) for head in self.heads])
            self._prototypes[model] = [means[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
        return self._prototypes[model]

    def probabilities(self, image_embeddings: np.ndarray, model: EmbeddingModel) -> dict[str, np.ndarray]:
        """Per attribute, [N, values] probabilities of L2-normalised image embeddings [N, dim] made by `model`."""
        vectors = np.asarray(image_embeddings, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != model.dim:
            raise AtelierError(f"expected image embeddings of shape [N, {model.dim}], got {list(vectors.shape)}")
        found: dict[str, np.ndarray] = {}
        for head, prototypes in zip(self.heads, self.prototypes(model)):
            joint = _softmax(self.logit_scale * vectors @ prototypes.T)
            found.update({attribute: joint @ members for attribute, members in zip(head.attributes, head.members)})
        for attribute, (source, members) in self._derived.items():
            found[attribute] = found[source] @ members
        return found

    def label_embeddings(self, image_embeddings: np.ndarray, model: EmbeddingModel) -> list[dict[str, Label]]:
        """Labels of L2-normalised image embeddings [N, dim] made by `model` (as embed_images returns them)."""
        labels: list[dict[str, Label]] = [{} for _ in range(len(image_embeddings))]
        for attribute, probabilities in self.probabilities(image_embeddings, model).items():
            values = self.values[attribute]
            for row, scores in zip(labels, probabilities):
                best = int(scores.argmax())
                confidence = float(scores[best])
                row[attribute] = {"value": values[best] if confidence >= self.min_confidence else UNKNOWN,
                                  "confidence": confidence, "scores": dict(zip(values, scores.tolist()))}
        for row in labels:
            for attribute, categories in APPLIES_TO.items():
                if attribute in row and "category" in row and row["category"]["value"] not in categories:
                    row[attribute]["value"] = UNKNOWN
        return labels

    def label_images(self, images: list[bytes]) -> list[dict[str, Label]]:
        """Labels of encoded images (PNG/JPEG/WebP bytes), embedded by the embedder's image model."""
        embeddings, model = self.embedder.embed_images(images)
        return self.label_embeddings(embeddings, model)


def trusted_attributes(accuracy: Mapping[str, float | None] | None) -> tuple[str, ...]:
    """The label attributes whose measured accuracy (`atelier eval labels`) is at least TRUSTED_ACCURACY."""
    return tuple(a for a, value in (accuracy or {}).items() if value is not None and value >= TRUSTED_ACCURACY)


def label_fields(labels: dict[str, Label]) -> dict[str, str | float]:
    """One product's labels as flat catalog fields: label_<attribute> (value) and label_<attribute>_confidence."""
    fields: dict[str, str | float] = {}
    for attribute, label in labels.items():
        fields[f"{FIELD_PREFIX}{attribute}"] = label["value"]
        fields[f"{FIELD_PREFIX}{attribute}_confidence"] = round(label["confidence"], 4)
    return fields
