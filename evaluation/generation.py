"""Does a generation model make what was asked? `atelier eval generation`.

The judge is the CLIP trained on the demo catalog (`atelier train clip`), reading garment, colour and
pattern zero-shot as the catalog's labels are read (atelier/labels.py). It never saw a generated picture.
Its own accuracy on the catalog's held-out products comes first; a generation figure counts only for the
attributes the judge reads at JUDGE_BAR or better.

Held-out prompts, each in the plain words a person types ("a red polka dot dress"): looks the generators
trained on, drawn anew, and looks whose (garment, colour) pair was never drawn in training
(training/generation_data.py HELD_OUT_PAIRS), reported apart, so composition is told from memory.
- txt2img: the judged garment, colour and pattern of the image, how many of the five catalog products
  nearest the image (what the dashboard shows under it) share the prompt's garment and colour, and how much
  the image looks like a catalog picture at all (its cosine similarity to the nearest product); also for the
  same looks asked as a Stylist turn asks (the words it adds, and its negative prompt).
- edit: a drawn product and an instruction changing its colour or pattern; success where the judge reads
  the asked value, kept where it reads the other two attributes as before.
  The judge's reading of the exact edited drawing is given (what "kept" can reach by its reading), and of
  that drawing passed through the trained VAE (what the generators' shared VAE lets through).
- inpaint: the left or right half of a drawn product masked and a caption of another look; the pixels
  outside the mask must be the original's exactly, and the judge reads the painted half for the caption's
  colour and pattern, mirrored into a whole garment (`_painted_half`: a half garment is no product, and the
  judge read the cropped halves of real composites at only 0.83-0.89). The judge's accuracy on real
  composites read so is given, and on the composites passed through the trained VAE.
- tryon: synthetic people never trained on, their top's area masked (eval_tryon): SSIM and PSNR against the
  photo when they wear their own top again, and the judge's reading of the painted area in a catalog top.
Baselines in the same run: the random-weight networks for each kind; for txt2img the catalog's real image
nearest to the prompt (by the judge's own text embedding), and the asked look drawn exactly and passed through
the trained VAE (what the judge can read after the VAE alone); for edit and inpaint the picture left unchanged;
for tryon the person with the garment area blanked.
The networks run in this process through the same pipeline code Triton runs (atelier/diffusion/pipelines/).
"""

from __future__ import annotations

import io
import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from diffusers import DiffusionPipeline
from PIL import Image, ImageDraw, ImageOps
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from tqdm import tqdm

from atelier.diffusion.exported import Build
from atelier.diffusion.pipelines import pipeline_class
from atelier.labels import ZeroShotLabeler
from atelier.model_repository import configured_scheduler
from atelier.plots import saved_figure
from atelier.stylist.interpreter import interpret
from atelier.stylist.prompts import build_prompt
from atelier.vocabulary import GARMENTS
from evaluation.labels import ClipBundleEmbedder, evaluate_labels, measured_accuracy
from export.diffusion import TorchNetworks, write_assets
from models.clip import load_clip
from training.generation_data import HELD_OUT_PAIRS, SIZE, Look, caption, draw, instruction, looks, one_apart, to_array
from training.generator_objectives import TRYON_SIZE
from training.viton_synthetic import synthetic_pair

ATTRIBUTES = ("garment", "color", "pattern")
JUDGE_BAR = 0.9
RECOMMENDED = 5
FIRST_EVAL_VARIANT = 1000  # drawings of a look that training (variants 0, 1, ...) never made
BATCH = 8
STYLIST_ROW = "trained, as the Stylist asks (its prompt and negative prompt)"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class Judge:
    """The trained CLIP: attributes of pictures, and the catalog products nearest to them."""

    def __init__(self, checkpoint: Path, catalog_csv: Path, profile: str = "tiny") -> None:
        self.embedder = ClipBundleEmbedder(load_clip(profile, checkpoint=Path(checkpoint)))
        self.labeler = ZeroShotLabeler(self.embedder)
        self.catalog_csv = Path(catalog_csv)
        self.catalog = pd.read_csv(catalog_csv, dtype=str, keep_default_na=False)
        self.embeddings, self.model = self.embedder.embed_images(
            [(self.catalog_csv.parent / path).read_bytes() for path in self.catalog["image"]])

    def accuracy(self) -> dict[str, float]:
        """The judge's own top-1 accuracy on the catalog's held-out products."""
        accuracy = measured_accuracy(evaluate_labels(self.catalog_csv, self.embedder, labeler=self.labeler))
        return {attribute: accuracy[attribute] for attribute in ATTRIBUTES}

    def read(self, images: list[Image.Image]) -> list[dict[str, str]]:
        embeddings, model = self.embedder.embed_images([_png(image) for image in images])
        labels = self.labeler.label_embeddings(embeddings, model)
        return [{a: max(label[a]["scores"], key=label[a]["scores"].get) for a in ATTRIBUTES} for label in labels]

    def recommended(self, images: list[Image.Image]) -> tuple[list[pd.DataFrame], np.ndarray]:
        """The RECOMMENDED catalog products nearest each image (as the dashboard shows them under it), and the
        cosine similarity of each image to its nearest product: how much it looks like a catalog picture."""
        embeddings, _ = self.embedder.embed_images([_png(image) for image in images])
        similarity = embeddings @ self.embeddings.T
        nearest = np.argsort(-similarity, axis=1)[:, :RECOMMENDED]
        return [self.catalog.iloc[row] for row in nearest], similarity.max(axis=1)

    def nearest_to_text(self, prompts: list[str]) -> list[Image.Image]:
        embeddings, _ = self.embedder.embed_texts(prompts)
        best = np.argmax(embeddings @ self.embeddings.T, axis=1)
        return [Image.open(self.catalog_csv.parent / self.catalog["image"].iloc[i]).convert("RGB") for i in best]


def runnable(kind: str, pipe: DiffusionPipeline, repository: Path, folder: Path):
    """`kind`'s pipeline (atelier/diffusion/pipelines/) over `pipe`'s PyTorch networks, its scheduler the one
    `repository`'s config.pbtxt names, its defaults those export would serve it with."""
    version_dir = folder / kind
    write_assets(kind, pipe, version_dir, Build("tiny", pipe.name_or_path or None), parity={})
    return pipeline_class(kind)(version_dir, TorchNetworks(kind, pipe), configured_scheduler(Path(repository) / kind))


def _through_vae(vae: torch.nn.Module, image: Image.Image) -> Image.Image:
    with torch.no_grad():
        decoded = vae.decode(vae.encode(torch.from_numpy(to_array(image))[None]).latent_dist.mode()).sample[0]
    return Image.fromarray(((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())


def run_pipeline(pipeline, requests: list[dict[str, Any]], progress: bool, desc: str) -> list[Image.Image]:
    parsed = [pipeline.parse(values) for values in requests]
    images: list[Image.Image] = []
    for start in tqdm(range(0, len(parsed), BATCH), desc=desc, disable=not progress):
        images += [Image.fromarray(array) for array in pipeline(parsed[start : start + BATCH])]
    return images


@dataclass(frozen=True)
class Cases:
    """The held-out prompts: `count` looks of each split (seen, unseen), fixed by `seed`."""

    seen: list[Look]
    unseen: list[Look]

    @classmethod
    def draw(cls, count: int, seed: int = 0) -> Cases:
        rng = random.Random(seed)
        seen, unseen = looks(), looks(held_out=True)
        return cls(rng.sample(seen, min(count, len(seen))), rng.sample(unseen, min(count, len(unseen))))

    def split(self) -> list[tuple[str, Look]]:
        return [("seen", look) for look in self.seen] + [("unseen", look) for look in self.unseen]

    def tops(self) -> Cases:
        """Those that are tops, what try-on's synthetic people wear."""
        return Cases(*([look for look in looks_ if GARMENTS[look.garment] == "tops"]
                       for looks_ in (self.seen, self.unseen)))


def _share(values: list[bool]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def _by_split(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    return {split: {key: _share([row[key] for row in rows if split in ("all", row["split"])]) for key in keys}
            for split in ("all", "seen", "unseen")}


def _txt2img_rows(judge: Judge, cases: Cases, images: list[Image.Image]) -> list[dict[str, Any]]:
    rows = []
    recommended, likeness = judge.recommended(images)
    for (split, look), read, products, like in zip(cases.split(), judge.read(images), recommended, likeness):
        matching = int(((products["garment"] == look.garment) & (products["color"] == look.color)).sum())
        rows.append({"split": split, "prompt": caption(look), **{a: read[a] == getattr(look, a) for a in ATTRIBUTES},
                     "matching_products": matching, "catalog_likeness": float(like), "read": read})
    return rows


def _txt2img_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = _by_split(rows, ATTRIBUTES)
    for split in summary:
        for key in ("matching_products", "catalog_likeness"):
            values = [row[key] for row in rows if split in ("all", row["split"])]
            summary[split][key] = round(float(np.mean(values)), 3) if values else None
    return summary


def eval_txt2img(pipes: dict[str, DiffusionPipeline], judge: Judge, cases: Cases, repository: Path, folder: Path,
                 seed: int, progress: bool) -> tuple[dict[str, Any], dict[str, list[Image.Image]]]:
    requests = [{"prompt": caption(look), "seed": seed + n, "width": SIZE, "height": SIZE}
                for n, (_, look) in enumerate(cases.split())]
    images = {name: run_pipeline(runnable("txt2img", pipe, repository, folder / name), requests, progress,
                         f"txt2img ({name})") for name, pipe in pipes.items()}
    # What a Stylist turn asking for the look sends: its prompt (the style words it adds) and its negative prompt.
    stylist = [{**request, **dict(zip(("prompt", "negative_prompt"), build_prompt(interpret(request["prompt"], False)
                                                                                  .slots, trends=[])))}
               for request in requests]
    images[STYLIST_ROW] = run_pipeline(runnable("txt2img", pipes["trained"], repository, folder / "stylist"), stylist,
                                       progress, "txt2img (as the Stylist asks)")
    images["nearest catalog image"] = judge.nearest_to_text([r["prompt"] for r in requests])
    # What the VAE alone lets through: the asked look, drawn exactly, encoded and decoded by the trained VAE.
    images["drawn look through the VAE (judge check)"] = [_through_vae(pipes["trained"].vae, draw(
        look, FIRST_EVAL_VARIANT + n)) for n, (_, look) in enumerate(cases.split())]
    report = {name: _txt2img_summary(_txt2img_rows(judge, cases, shown)) for name, shown in images.items()}
    return report, images


def eval_edit(pipes: dict[str, DiffusionPipeline], judge: Judge, cases: Cases, repository: Path, folder: Path,
              seed: int, progress: bool) -> tuple[dict[str, Any], dict[str, list[Image.Image]]]:
    rng, every = random.Random(seed), set(looks()) | set(looks(held_out=True))
    pairs = [(split, look, one_apart(look, rng, every)) for split, look in cases.split()]
    sources = [draw(look, FIRST_EVAL_VARIANT + n) for n, (_, look, _) in enumerate(pairs)]
    requests = [{"image": _png(source), "instruction": instruction(before, after, rng), "seed": seed + n}
                for n, (source, (_, before, after)) in enumerate(zip(sources, pairs))]
    images = {name: run_pipeline(runnable("edit", pipe, repository, folder / name), requests, progress,
                                 f"edit ({name})")
              for name, pipe in pipes.items()}
    images["unchanged"] = sources
    truth = [draw(after, FIRST_EVAL_VARIANT + n) for n, (_, _, after) in enumerate(pairs)]
    checks = {"real edit (judge check)": truth,
              "real edit through the VAE (judge check)": [_through_vae(pipes["trained"].vae, t) for t in truth]}
    report = {}
    for name, shown in {**images, **checks}.items():
        rows = []
        for (split, before, after), read in zip(pairs, judge.read(shown)):
            changed = next(a for a in ATTRIBUTES if getattr(before, a) != getattr(after, a))
            success = read[changed] == getattr(after, changed)
            kept = all(read[a] == getattr(before, a) for a in ATTRIBUTES if a != changed)
            rows.append({"split": split, "success": success, "kept": kept, "both": success and kept})
        report[name] = _by_split(rows, ("success", "kept", "both"))
    return report, images


def _half_mask(side: str) -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    box = (0, 0, SIZE // 2, SIZE) if side == "left" else (SIZE // 2, 0, SIZE, SIZE)
    ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
    return mask


def _masked_part(image: Image.Image, mask: Image.Image) -> Image.Image:
    """The mask's bounding box of `image`, centred on a square of the drawn catalog's grey, as the judge reads it."""
    part = image.crop(mask.getbbox())
    square = Image.new("RGB", (SIZE, SIZE), (230, 230, 230))
    square.paste(part, ((SIZE - part.width) // 2, (SIZE - part.height) // 2))
    return square


def _painted_half(image: Image.Image, mask: Image.Image) -> Image.Image:
    """`image` with its half under `mask` (a left or right half) mirrored onto the other half: the painted half
    as a whole garment (the drawn garments are symmetric), which the judge reads as it reads a product."""
    box = mask.getbbox()
    whole = image.copy()
    whole.paste(ImageOps.mirror(image.crop(box)), (SIZE - box[2], 0))
    return whole


def eval_inpaint(pipes: dict[str, DiffusionPipeline], judge: Judge, cases: Cases, repository: Path, folder: Path,
                 seed: int, progress: bool) -> tuple[dict[str, Any], dict[str, list[Image.Image]]]:
    rng, every = random.Random(seed), set(looks()) | set(looks(held_out=True))
    pairs = [(split, look, one_apart(look, rng, every)) for split, look in cases.split()]
    masks = [_half_mask(rng.choice(("left", "right"))) for _ in pairs]
    sources = [draw(look, FIRST_EVAL_VARIANT + n) for n, (_, look, _) in enumerate(pairs)]
    requests = [{"image": _png(source), "mask": _png(mask), "prompt": caption(after), "seed": seed + n}
                for n, (source, mask, (_, _, after)) in enumerate(zip(sources, masks, pairs))]
    images = {name: run_pipeline(runnable("inpaint", pipe, repository, folder / name), requests, progress,
                         f"inpaint ({name})") for name, pipe in pipes.items()}
    images["unchanged"] = sources
    truth = [Image.composite(draw(after, FIRST_EVAL_VARIANT + n), source, mask)
             for n, (source, mask, (_, _, after)) in enumerate(zip(sources, masks, pairs))]
    report = {}
    checks = {"real composite (judge check)": truth,
              "real composite through the VAE (judge check)": [_through_vae(pipes["trained"].vae, t) for t in truth]}
    for name, shown in {**images, **checks}.items():
        read = judge.read([_painted_half(image, mask) for image, mask in zip(shown, masks)])
        rows = [{"split": split, "color": r["color"] == after.color, "pattern": r["pattern"] == after.pattern}
                for (split, _, after), r in zip(pairs, read)]
        outside = [int(np.abs(np.asarray(image, np.int16) - np.asarray(source, np.int16))[np.asarray(mask) == 0]
                       .max()) for image, source, mask in zip(shown, sources, masks)]
        report[name] = {**_by_split(rows, ("color", "pattern")), "outside_mask_max_abs_difference": max(outside)}
    return report, images


def _pixel_scores(shown: list[Image.Image], truth: list[Image.Image]) -> tuple[float, float]:
    """Mean SSIM and PSNR (dB) of `shown` against `truth`, pixels in [0, 1]."""
    def stack(images: list[Image.Image]) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(i.convert("RGB"), np.float32) / 255 for i in images])
                                ).permute(0, 3, 1, 2)

    shown_, truth_ = stack(shown), stack(truth)
    return (round(float(structural_similarity_index_measure(shown_, truth_, data_range=1.0)), 4),
            round(float(peak_signal_noise_ratio(shown_, truth_, data_range=1.0)), 2))


def eval_tryon(pipes: dict[str, DiffusionPipeline], judge: Judge, cases: Cases, repository: Path, folder: Path,
               seed: int, progress: bool) -> tuple[dict[str, Any], dict[str, list[Image.Image]]]:
    """Synthetic people (the test split of training/viton_synthetic.py, never trained on) with the area of their
    top masked. Paired: each in their own top, scored by SSIM and PSNR against the photo itself. Unpaired, as on
    the Try-On page: each in a catalog top of the held-out looks, the painted area read by the judge for the top's
    colour and pattern."""
    tops = cases.tops().split()
    people = [synthetic_pair(n, TRYON_SIZE, split="test") for n in range(len(tops))]
    garments = [draw(look, FIRST_EVAL_VARIANT + n) for n, (_, look) in enumerate(tops)]

    def requests(tops_of: list[Image.Image]) -> list[dict[str, Any]]:
        return [{"person": _png(person.person), "garment": _png(top), "mask": _png(person.agnostic_mask),
                 "seed": seed + n} for n, (person, top) in enumerate(zip(people, tops_of))]

    paired, unpaired = requests([person.cloth for person in people]), requests(garments)
    report, samples = {}, {}
    for name, pipe in pipes.items():
        pipeline = runnable("tryon", pipe, repository, folder / name)
        own, samples[name] = run_pipeline(pipeline, paired, progress, f"tryon ({name}, own top)"), run_pipeline(
            pipeline, unpaired, progress, f"tryon ({name}, catalog top)")
        report[name] = _tryon_scores(judge, tops, people, own, samples[name])
    blanked = [Image.composite(Image.new("RGB", person.person.size, (128, 128, 128)), person.person,
                               person.agnostic_mask) for person in people]
    samples["garment area blanked"], samples["catalog top"] = blanked, garments
    report["garment area blanked"] = _tryon_scores(judge, tops, people, blanked, blanked)
    return report, samples


def _tryon_scores(judge: Judge, tops: list[tuple[str, Look]], people: list, own: list[Image.Image],
                  catalog_top: list[Image.Image]) -> dict[str, Any]:
    read = judge.read([_masked_part(image, person.agnostic_mask) for image, person in zip(catalog_top, people)])
    rows = [{"split": split, "color": r["color"] == look.color, "pattern": r["pattern"] == look.pattern}
            for (split, look), r in zip(tops, read)]
    ssim, psnr = _pixel_scores(own, [person.person for person in people])
    outside = [int(np.abs(np.asarray(image, np.int16) - np.asarray(person.person, np.int16))[
        np.asarray(person.agnostic_mask) == 0].max()) for image, person in zip(catalog_top, people)]
    return {**_by_split(rows, ("color", "pattern")), "paired_ssim": ssim, "paired_psnr_db": psnr,
            "outside_mask_max_abs_difference": max(outside)}


EVALS = {"txt2img": eval_txt2img, "edit": eval_edit, "inpaint": eval_inpaint, "tryon": eval_tryon}


def evaluate_generation(trained: dict[str, DiffusionPipeline], random_weights: dict[str, DiffusionPipeline],
                        judge: Judge, repository: Path, out_dir: Path, count: int = 50, seed: int = 0,
                        progress: bool = True) -> dict[str, Any]:
    """Evaluate each kind in `trained` beside its random-weight network; writes generation.json, generation.png
    (the figures) and generation_samples.png (the first pictures of each) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accuracy = judge.accuracy()
    cases = Cases.draw(count, seed)
    report: dict[str, Any] = {
        "judge": {"model": str(judge.model), "held_out_accuracy": accuracy, "bar": JUDGE_BAR,
                  "counted": [a for a in ATTRIBUTES if accuracy[a] >= JUDGE_BAR]},
        "prompts": {"seen": len(cases.seen), "unseen": len(cases.unseen),
                    "held_out_pairs": [list(pair) for pair in sorted(HELD_OUT_PAIRS)]},  # as JSON reads them back
        "seed": seed,
    }
    samples = {}
    with tempfile.TemporaryDirectory() as scratch:
        for kind in trained:
            pipes = {"trained": trained[kind], "random weights": random_weights[kind]}
            report[kind], samples[kind] = EVALS[kind](pipes, judge, cases, repository, Path(scratch), seed, progress)
    (out_dir / "generation.json").write_text(json.dumps(report, indent=2))
    _chart(report, out_dir / "generation.png")
    if tryon := samples.pop("tryon", None):
        _samples({"tryon": tryon}, cases.tops(), out_dir / "generation_tryon_samples.png")
    _samples(samples, cases, out_dir / "generation_samples.png")
    return report


def _chart(report: dict[str, Any], path: Path) -> None:
    kinds = [kind for kind in EVALS if kind in report]
    with saved_figure(path, ncols=len(kinds), figsize=(5 * len(kinds), 4)) as axes:
        for axis, kind in zip(np.atleast_1d(axes), kinds):
            systems = [name for name in report[kind] if "judge" not in name]
            metrics = [m for m in report[kind][systems[0]]["all"] if m not in ("matching_products", "catalog_likeness")]
            width = 0.8 / len(systems)
            for n, name in enumerate(systems):
                axis.bar(np.arange(len(metrics)) + (n - (len(systems) - 1) / 2) * width,
                         [report[kind][name]["all"][m] or 0 for m in metrics], width, label=name)
            axis.set_xticks(np.arange(len(metrics)), metrics)
            axis.set_ylim(0, 1)
            axis.set_title(kind)
            axis.legend(fontsize=7)


def _samples(samples: dict[str, dict[str, list[Image.Image]]], cases: Cases, path: Path, each: int = 4) -> None:
    """The first `each` seen and unseen cases' pictures, a row per kind and system, labelled with the prompt."""
    split = cases.split()
    seen, unseen = len(cases.seen), len(cases.unseen)
    shown = [*range(min(each, seen)), *range(seen, seen + min(each, unseen))]
    rows = [(f"{kind}: {name}", [images[i] for i in shown if i < len(images)])
            for kind, systems in samples.items() for name, images in systems.items()]
    label_width, side, top = 170, 96, 28
    sheet = Image.new("RGB", (label_width + len(shown) * side, len(rows) * side + top), "white")
    draw_ = ImageDraw.Draw(sheet)
    for column, i in enumerate(shown):
        split_name, look = split[i]
        words = f"{look.color} {look.pattern}" if look.pattern != "solid" else look.color
        draw_.text((label_width + column * side + 2, 2), f"{words}\n{look.garment} ({split_name})", fill="black")
    for r, (label, images) in enumerate(rows):
        draw_.text((4, top + r * side + side // 2 - 6), label, fill="black")
        for column, image in enumerate(images):
            sheet.paste(image.convert("RGB").resize((side, side)), (label_width + column * side, top + r * side))
    sheet.save(path)
