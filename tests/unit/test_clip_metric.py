from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from atelier.demo_catalog import write_catalog
from training import clip_metric
from training.clip_metric import (
    TrainConfig,
    contrastive_loss,
    hard_negative_batches,
    sketch_views,
    split_catalog,
    train_clip,
)
from training.clip_texts import FAMILIES, SKETCH_FAMILIES, attribute_values, descriptions

TINY = TrainConfig(epochs=1, batch_size=16, lr=1e-3, hard_negative_fraction=0.5, sketches_per_garment=4)


@pytest.fixture(scope="module")
def catalog_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog"), count=64, progress=False)


def _frame(catalog_csv: Path) -> pd.DataFrame:
    return pd.read_csv(catalog_csv, dtype=str, keep_default_na=False)


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, weights_only=True)["model"]


def _assert_same(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    assert all(torch.equal(left[key], right[key]) for key in left)


def test_split_is_deterministic_disjoint_and_ignores_row_order(catalog_csv):
    frame = _frame(catalog_csv)
    train, held = split_catalog(frame)
    assert len(held) == round(0.2 * len(frame)) and len(train) + len(held) == len(frame)
    assert not set(train["id"]) & set(held["id"])
    again, held_again = split_catalog(frame.sample(frac=1, random_state=3))
    assert set(held_again["id"]) == set(held["id"]) and set(again["id"]) == set(train["id"])
    assert set(split_catalog(frame, seed=1)[1]["id"]) != set(held["id"])


def test_descriptions_name_what_their_family_says():
    row = SimpleNamespace(title="Linden sage striped hoodie", garment="hoodie", color="sage", pattern="striped",
                          category="tops")
    texts = descriptions(row)
    assert {"sage striped hoodie", "a hoodie in sage with stripes", "Linden sage striped hoodie",
            "a long-sleeved sage striped hoodie"} <= set(texts["full"])
    assert texts["color+garment"] == ["sage hoodie", "a hoodie in sage"]
    assert "striped hoodie" in texts["pattern+garment"] and texts["garment"][0] == "hoodie"
    assert "in sage" in texts["color"] and "with stripes" in texts["pattern"] and "tops" in texts["category"]
    assert texts["sleeve"] == ["long-sleeved clothing", "long sleeve clothing"] and "a hooded top" in texts["neckline"]
    for family, phrases in texts.items():  # a phrase names the colour exactly when its family says so
        assert all(("sage" in phrase) == ("color" in FAMILIES[family][0]) for phrase in phrases), family
    assert set(SKETCH_FAMILIES) == {"garment", "category", "sleeve", "neckline"}

    trousers = descriptions(SimpleNamespace(title="Tessaly navy trousers", garment="trousers", color="navy",
                                            pattern="solid", category="bottoms"))
    assert "sleeve" not in trousers and "neckline" not in trousers  # trousers have neither
    assert "navy trousers" in trousers["full"] and not any("solid" in t for ts in trousers.values() for t in ts)
    assert attribute_values(row) == ("hoodie", "sage", "striped", "tops", "long", "hood")


def test_sketch_views_hold_drawings_of_each_garment(catalog_csv):
    train, _ = split_catalog(_frame(catalog_csv))
    views = sketch_views(train, catalog_csv.parent, per_garment=4, side=32, seed=0)
    assert set(views) == set(train["garment"])
    assert all(v.shape == (4, 3, 32, 32) and v.dtype == torch.uint8 for v in views.values())
    dark = [(v < 128).float().mean().item() for v in views.values()]
    assert all(0.01 < share < 0.5 for share in dark)  # black strokes on white paper
    again = sketch_views(train, catalog_csv.parent, per_garment=4, side=32, seed=0)
    assert all(torch.equal(views[g], again[g]) for g in views)


def test_loss_is_clip_loss_for_distinct_products_and_partial_texts_have_more_positives():
    generator = torch.Generator().manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator), dim=-1)
    scale, everything = torch.tensor(10.0), torch.ones(4, 3, dtype=torch.bool)
    distinct = torch.tensor([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1]])  # products 0 and 1 share the garment
    loss = contrastive_loss(images, texts, scale, distinct, everything)
    assert torch.allclose(loss, ClipLoss()(images, texts, scale))

    # text 1 names only the garment, which image 0 has too: pulling image 0 onto it costs nothing any more
    garment_only = everything.clone()
    garment_only[1] = torch.tensor([True, False, False])
    closer = images.clone()
    closer[0] = texts[1]
    assert contrastive_loss(closer, texts, scale, distinct, garment_only) < contrastive_loss(
        closer, texts, scale, distinct, everything)

    # a sketch shows no colour: image 0 as a sketch is no positive of text 1 that names the colour it lacks
    colour_too = everything.clone()
    colour_too[0] = torch.tensor([True, False, False])  # the sketch's own text names its garment only
    colour_too[1] = torch.tensor([True, True, False])
    sketch = everything.clone()
    sketch[0] = torch.tensor([True, False, False])
    same_colour = torch.tensor([[0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1]])
    assert contrastive_loss(closer, texts, scale, same_colour, colour_too, sketch) > contrastive_loss(
        closer, texts, scale, same_colour, colour_too, everything)


def test_garment_first_share_ranks_the_named_garment_above_the_named_colour():
    # text 0 is "navy trousers" (garment and colour named); image 1 is beige trousers, image 2 a navy shirt
    attributes = torch.tensor([[0, 0, 0], [0, 1, 0], [1, 0, 0]])
    named = torch.tensor([[True, True, False], [True, True, True], [True, True, True]])
    texts = torch.eye(3)
    garment_first, colour_first = torch.eye(3), torch.eye(3)
    garment_first[1, 0] = colour_first[2, 0] = 0.5  # the image leans towards text 0
    scale = torch.tensor(10.0)

    def loss(images: torch.Tensor, share: float) -> torch.Tensor:
        return contrastive_loss(F.normalize(images, dim=-1), texts, scale, attributes, named, first_share=share)

    assert torch.isclose(loss(garment_first, 0.0), loss(colour_first, 0.0))  # plain InfoNCE cannot tell them apart
    assert loss(garment_first, 0.2) < loss(colour_first, 0.2)


def test_hard_negative_batches_take_the_fraction_from_one_category():
    categories = ["tops"] * 160 + ["bottoms"] * 120 + ["outerwear"] * 80 + ["dresses"] * 40
    batches = hard_negative_batches(categories, 32, 0.5, torch.Generator().manual_seed(0))
    assert len(batches) == len(categories) // 32 and all(len(batch) == 32 for batch in batches)
    items = [i for batch in batches for i in batch]
    assert len(items) == len(set(items))
    assert all(Counter(categories[i] for i in batch).most_common(1)[0][1] >= 16 for batch in batches)
    assert len({categories[batch[0]] for batch in batches}) > 1  # the hard category varies from batch to batch
    assert batches == hard_negative_batches(categories, 32, 0.5, torch.Generator().manual_seed(0))
    assert batches != hard_negative_batches(categories, 32, 0.5, torch.Generator().manual_seed(1))


def test_training_is_deterministic(catalog_csv, tmp_path):
    first = train_clip(catalog_csv, tmp_path / "a", TINY, progress=False)
    second = train_clip(catalog_csv, tmp_path / "b", TINY, progress=False)
    assert first == tmp_path / "a" / "clip.pt" and (tmp_path / "a" / "last.pt").exists()
    _assert_same(_weights(first), _weights(second))
    initial = clip_metric.load_clip("tiny").model.state_dict()
    assert not torch.equal(_weights(first)["text_projection"], initial["text_projection"])
    saved = torch.load(first, weights_only=True)
    assert saved["epoch"] == 1 and saved["config"]["batch_size"] == 16 and {"optimizer", "rng"} <= saved.keys()
    clip_metric.load_clip("tiny", checkpoint=first)  # what the export loads


def test_a_finished_run_is_returned_without_training_again(catalog_csv, tmp_path, monkeypatch):
    final = train_clip(catalog_csv, tmp_path / "done", TINY, progress=False)
    before = final.stat().st_mtime_ns
    monkeypatch.setattr(clip_metric, "load_clip", lambda *a, **k: pytest.fail("the model was built again"))
    assert train_clip(catalog_csv, tmp_path / "done", TINY, progress=False) == final
    assert final.stat().st_mtime_ns == before


def test_resumed_run_ends_with_the_same_weights(catalog_csv, tmp_path, monkeypatch):
    config = replace(TINY, epochs=2)
    straight = train_clip(catalog_csv, tmp_path / "straight", config, progress=False)

    save = clip_metric.save_checkpoint
    saved: list[Path] = []

    def crash_after_first_epoch(path: Path, payload: dict) -> None:
        save(path, payload)
        saved.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(clip_metric, "save_checkpoint", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_clip(catalog_csv, tmp_path / "resumed", config, progress=False)
    assert saved == [tmp_path / "resumed" / "last.pt"]
    assert torch.load(saved[0], weights_only=True)["epoch"] == 1

    def record(path: Path, payload: dict) -> None:
        save(path, payload)
        saved.append(path)

    monkeypatch.setattr(clip_metric, "save_checkpoint", record)
    resumed = train_clip(catalog_csv, tmp_path / "resumed", config, progress=False)
    assert saved[1:] == [tmp_path / "resumed" / "last.pt", resumed]  # only epoch 2 was trained again
    _assert_same(_weights(resumed), _weights(straight))


def test_a_checkpoint_of_another_config_is_not_resumed(catalog_csv, tmp_path):
    train_clip(catalog_csv, tmp_path, TINY, progress=False)
    with pytest.warns(UserWarning, match="training from scratch"):
        other = train_clip(catalog_csv, tmp_path, replace(TINY, seed=1), progress=False)
    assert torch.load(other, weights_only=True)["config"]["seed"] == 1
