"""CLIP metric learning on a catalog: contrastive training of both towers on its pictures and descriptions.

    atelier train clip [--catalog CATALOG_CSV] [--out OUT_DIR] [--epochs N] [--seed N] [--no-resume]

Each batch item is a product seen one of two ways, paired with one way of describing it:
1. its photo, randomly cropped, flipped and lit (`augment`), or, for `sketch_fraction` of the items, a
   drawing of its garment as the sketch pad sends it (`sketch_views`: outlines and edge maps of photos);
2. a description from `training.clip_texts`: the whole product ("navy striped shirt"), or only some of its
   attributes ("trousers", "navy trousers", "in black", "tops", "long-sleeved clothing"); a drawing is
   only paired with what a shape shows.
The loss (`contrastive_loss`) counts every pair whose image shows what the text names as a positive, and
leans the ranking garment first (`garment_first_share`).

Trains on the train side of :func:`split_catalog` (the held-out side is for evaluation) and writes
OUT_DIR/clip.pt, which `load_clip(profile, checkpoint=...)` loads. OUT_DIR/last.pt is written every
`checkpoint_every` epochs; running again with the same config and catalog continues from it, and a resumed
run ends with the same weights, bit for bit on CPU, as one that was never interrupted.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn
from tqdm import tqdm

from atelier.config import AtelierError
from atelier.demo_sketches import outline_sketch
from atelier.sketch import preprocess_sketch, pseudo_sketch
from models.clip import load_clip
from training.checkpoints import load_checkpoint, save_checkpoint
from training.clip_texts import ATTRIBUTES, FAMILIES, SHAPE_ATTRIBUTES, SKETCH_FAMILIES, attribute_values, descriptions


@dataclass
class TrainConfig:
    """The defaults train the tiny model on the 2000-product demo catalog in about 6 minutes on 2 CPU cores."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.1
    seed: int = 0
    hard_negative_fraction: float = 0.5  # share of each batch drawn from one category (hard negatives)
    sketch_fraction: float = 0.25  # share of each batch shown as a drawing of the garment instead of its photo
    garment_first_share: float = 0.1  # of each target, for products of the named garment that miss the rest
    sketches_per_garment: int = 64  # drawings per garment (half outlines, half photo edge maps), drawn once
    warmup_epochs: int = 1
    checkpoint_every: int = 1  # epochs


def split_catalog(
    frame: pd.DataFrame, holdout_fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held-out): a seeded shuffle of the product ids, so the row order of the CSV does not matter."""
    ids = np.sort(frame["id"].to_numpy())
    held_ids = set(np.random.default_rng(seed).permutation(ids)[: round(holdout_fraction * len(ids))])
    held = frame["id"].isin(held_ids)
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def hard_negative_batches(
    categories: Sequence[str], batch_size: int, fraction: float, generator: torch.Generator
) -> list[list[int]]:
    """One epoch of full batches of item indices, each with round(fraction * batch_size) items of one category.

    Each batch's category is drawn in proportion to the items it has left for hard shares, so the categories
    run out together (a batch that none can serve any more stays plain); the other items, shuffled, fill the
    batches up. Every item appears at most once; the few that cannot fill a batch differ every epoch.
    """
    hard = round(fraction * batch_size)
    order = torch.randperm(len(categories), generator=generator).tolist()
    pools = {category: [i for i in order if categories[i] == category] for category in sorted(set(categories))}
    batches = []
    for _ in range(len(order) // batch_size):
        eligible = [category for category, pool in pools.items() if len(pool) >= hard > 0]
        batch: list[int] = []
        if eligible:
            weights = torch.tensor([len(pools[category]) for category in eligible], dtype=torch.float64)
            chosen = eligible[int(torch.multinomial(weights, 1, generator=generator))]
            batch, pools[chosen] = pools[chosen][:hard], pools[chosen][hard:]
        batches.append(batch)
    taken = {i for batch in batches for i in batch}
    rest = iter([i for i in order if i not in taken])
    return [batch + [next(rest) for _ in range(batch_size - len(batch))] for batch in batches]


def augment(images: torch.Tensor, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float (N, 3, *size) in [0, 1]: random resized crop (area 0.7-1), horizontal flip,
    brightness and contrast x0.9-1.1. No hue or saturation jitter: the colour name must stay true."""
    _, _, height, width = images.shape
    out = []
    for image, (area, ratio, y, x, flip, brightness, contrast) in zip(
        images, torch.rand(len(images), 7, generator=generator).tolist()
    ):
        area, ratio = (0.7 + 0.3 * area) * height * width, (3 / 4) * (16 / 9) ** ratio
        h, w = min(height, round(math.sqrt(area / ratio))), min(width, round(math.sqrt(area * ratio)))
        top, left = int(y * (height - h + 1)), int(x * (width - w + 1))
        crop = image[None, :, top : top + h, left : left + w].float() / 255
        crop = F.interpolate(crop, size=size, mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)
        if flip < 0.5:
            crop = crop.flip(-1)
        crop = crop * (0.9 + 0.2 * brightness)
        grey = (crop * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0).mean()
        out.append(((crop - grey) * (0.9 + 0.2 * contrast) + grey).clamp(0, 1))
    return torch.stack(out)


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
    attributes: torch.Tensor, named: torch.Tensor, shown: torch.Tensor | None = None, first_share: float = 0.0,
) -> torch.Tensor:
    """CLIP's symmetric InfoNCE, where image i and text j are a positive pair whenever i shows every attribute
    that text j names, with the same value. Row k of `attributes` (ids, one column per attribute) describes
    the product behind image k and text k; row k of `named` says which of them text k names, and row k of
    `shown` which of them image k shows (all, unless given: a sketch shows no colour).

    Two products can share garment, colour and pattern and differ only in brand, which the picture does not
    show: calling the other one's text a negative would ask the model to tell apart what it cannot see. Nor
    is "a coat" wrong for any coat in the batch. So the targets spread evenly over all positives; when every
    text names everything and no two products look alike, this is open_clip's ClipLoss exactly.

    A shopper who asks for "navy trousers" would rather see beige trousers than a navy shirt: `first_share` of
    each target goes to the pairs that are no positive but match on the first attribute column (the garment)
    where the text names it, so that those rank above the ones that match on the others only.
    """
    shown = torch.ones_like(named) if shown is None else shown
    logits = logit_scale * image_features @ text_features.T
    same = (attributes[:, None, :] == attributes[None, :, :]) & shown[:, None, :]
    positives = (same | ~named[None, :, :]).all(-1).float()
    nearly = (same[..., 0] & named[None, :, 0]).float() * (1 - positives)
    return (F.cross_entropy(logits, _targets(positives, nearly, first_share))
            + F.cross_entropy(logits.T, _targets(positives.T, nearly.T, first_share))) / 2


def _targets(positives: torch.Tensor, nearly: torch.Tensor, share: float) -> torch.Tensor:
    """Rows that spread 1 - `share` over their positives and `share` over their near misses (all to the
    positives where a row has no near miss)."""
    misses = nearly.sum(1, keepdim=True)
    spread = positives / positives.sum(1, keepdim=True)
    return torch.where(misses > 0, (1 - share) * spread + share * nearly / misses.clamp_min(1), spread)


def _square(image: Image.Image, side: int) -> torch.Tensor:
    """The picture center-cropped square at `side` px, as the eval transform would (resize shortest, crop)."""
    square = ImageOps.fit(image.convert("RGB"), (side, side), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(square).copy()).permute(2, 0, 1)


def _decode(path: Path, side: int) -> torch.Tensor:
    with Image.open(path) as image:
        return _square(image, side)


def sketch_views(frame: pd.DataFrame, base: Path, per_garment: int, side: int, seed: int) -> dict[str, torch.Tensor]:
    """Per garment, drawings as the sketch pad sends them (`preprocess_sketch`) at `side` px: half outline
    drawings (`outline_sketch`), half edge maps of the catalog's own photos of that garment (`pseudo_sketch`)."""
    rng = random.Random(seed)
    views = {}
    for garment, rows in frame.groupby("garment"):
        photos = [base / path for path in rows["image"].iloc[: per_garment // 2]]
        drawings = [outline_sketch(str(garment), rng) for _ in range(per_garment - len(photos))]
        for path in photos:
            with Image.open(path) as photo:
                drawings.append(pseudo_sketch(photo))
        views[str(garment)] = torch.stack([_square(preprocess_sketch(drawing), side) for drawing in drawings])
    return views


def _sketch_view(views: torch.Tensor, pick: float, generator: torch.Generator) -> torch.Tensor:
    """One of a garment's drawings, mirrored half of the time, in [0, 1]."""
    view = views[int(pick * len(views))].float() / 255
    return view.flip(-1) if torch.rand(1, generator=generator).item() < 0.5 else view


def _family(texts: dict[str, torch.Tensor], sketch: bool, choice: float) -> str:
    """A description family the view can be paired with, drawn by FAMILIES' shares (`choice` in [0, 1))."""
    allowed = [f for f in texts if f in SKETCH_FAMILIES] if sketch else list(texts)
    shares = np.cumsum([FAMILIES[f][1] for f in allowed])
    return allowed[min(int(np.searchsorted(shares, choice * shares[-1], side="right")), len(allowed) - 1)]


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """open_clip's convention: no weight decay on gains, biases and the logit scale."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        skip = param.ndim < 2 or "logit_scale" in name or name.endswith(".bias")
        (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _finished(checkpoint: Path, run: dict[str, Any], epochs: int) -> bool:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return state.get("epoch") == epochs and all(state.get(key) == value for key, value in run.items())


def train_clip(
    catalog_csv: Path, out_dir: Path, config: TrainConfig, profile: str = "tiny", resume: bool = True,
    progress: bool = True,
) -> Path:
    """Train `profile`'s CLIP model on the catalog's train split; returns out_dir/clip.pt."""
    catalog_csv, out_dir = Path(catalog_csv), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = {"config": asdict(config), "profile": profile, "data": hashlib.sha256(catalog_csv.read_bytes()).hexdigest()}
    final, last = out_dir / "clip.pt", out_dir / "last.pt"
    if resume and final.exists() and _finished(final, run, config.epochs):
        return final  # `atelier up` asks every start: answer before decoding a single image
    # The split keeps its default seed, so the held-out products stay the same whatever the training seed.
    train, _ = split_catalog(pd.read_csv(catalog_csv, dtype=str, keep_default_na=False))
    bundle = load_clip(profile)
    model = bundle.model
    preprocess_cfg = model.visual.preprocess_cfg
    size = preprocess_cfg["size"]
    size = (size, size) if isinstance(size, int) else tuple(size)
    mean = torch.tensor(preprocess_cfg["mean"])[:, None, None]
    std = torch.tensor(preprocess_cfg["std"])[:, None, None]

    # Everything in memory once: pictures at twice the model's input size leave room for the random crops.
    images = torch.stack([_decode(catalog_csv.parent / path, 2 * max(size)) for path in train["image"]])
    sketches = sketch_views(train, catalog_csv.parent, config.sketches_per_garment, max(size), config.seed)
    rows = list(train.itertuples())
    garments = train["garment"].tolist()
    texts = [{family: bundle.tokenizer(phrases) for family, phrases in descriptions(row).items()} for row in rows]
    values = pd.DataFrame([attribute_values(row) for row in rows], columns=ATTRIBUTES)
    attributes = torch.stack([torch.from_numpy(pd.factorize(values[name])[0]) for name in ATTRIBUTES], dim=1)
    names = {family: torch.tensor([a in named for a in ATTRIBUTES]) for family, (named, _) in FAMILIES.items()}
    shows_shape = torch.tensor([a in SHAPE_ATTRIBUTES for a in ATTRIBUTES])
    categories = train["category"].tolist()

    steps_per_epoch = len(train) // config.batch_size
    if steps_per_epoch == 0:
        raise AtelierError(f"{catalog_csv}: {len(train)} training products cannot fill a batch of {config.batch_size}")
    total_steps, warmup_steps = config.epochs * steps_per_epoch, config.warmup_epochs * steps_per_epoch

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to zero
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(config.seed)  # batches, texts and augmentation all draw from it
    torch.manual_seed(config.seed)

    epoch = 0
    if resume and (state := load_checkpoint(last, run)):
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["rng"]["generator"])
        torch.set_rng_state(state["rng"]["torch"])
        epoch = state["epoch"]

    def checkpoint() -> dict[str, Any]:
        return {**run, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": {"generator": generator.get_state(), "torch": torch.get_rng_state()}}

    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    model.train()
    try:
        while epoch < config.epochs:
            batches = hard_negative_batches(categories, config.batch_size, config.hard_negative_fraction, generator)
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=not progress)
            for batch in bar:
                index = torch.tensor(batch)
                draws = torch.rand(len(batch), 4, generator=generator).tolist()  # view, drawing, family, phrasing
                is_sketch = [draw < config.sketch_fraction for draw, *_ in draws]
                photos = (augment(images[index], size, generator) - mean) / std
                pixels = torch.stack([
                    (_sketch_view(sketches[garments[i]], pick, generator) - mean) / std if sketch else photo
                    for i, photo, sketch, (_, pick, _, _) in zip(batch, photos, is_sketch, draws)])
                families = [_family(texts[i], sketch, draw[2]) for i, sketch, draw in zip(batch, is_sketch, draws)]
                tokens = [texts[i][family][int(draw[3] * len(texts[i][family]))]
                          for i, family, draw in zip(batch, families, draws)]
                shown = torch.stack([shows_shape if sketch else torch.ones_like(shows_shape) for sketch in is_sketch])
                loss = contrastive_loss(
                    model.encode_image(pixels, normalize=True), model.encode_text(torch.stack(tokens), normalize=True),
                    model.logit_scale.exp(), attributes[index], torch.stack([names[f] for f in families]), shown,
                    config.garment_first_share)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(100))
                bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
            epoch += 1
            if epoch % config.checkpoint_every == 0 or epoch == config.epochs:
                save_checkpoint(last, checkpoint())
    finally:
        torch.use_deterministic_algorithms(deterministic)
        model.eval()
    save_checkpoint(final, checkpoint())
    return final

