"""Does a LoRA move what txt2img draws towards the pictures it was trained on? `atelier eval lora`.

The prototype's promise: LoRA weights give "more weight to social media trends, the catalog and the user's
history". Prompts that name no colour or pattern (NEUTRAL_PROMPTS; some name no garment either) are drawn by the
trained base txt2img and with the LoRA fused at each weight, several seeds each, through the pipeline code Triton
runs. The judge (the trained CLIP, evaluation/generation.py) reads the colour and garment of every picture, and
of the LoRA's own training pictures (its trend posts or a shopper's purchases). Reported per weight: each
colour's and garment's share; the share in the data's most common colour and garment; and the total variation
distance between the drawn and the data's shares (0: the same; 1: nothing in common).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from atelier.config import AtelierError
from atelier.plots import saved_figure
from evaluation.generation import Judge, run_pipeline, runnable
from models.diffusion import load_diffusers_pipeline
from training.generation_data import SIZE

NEUTRAL_PROMPTS = ("an outfit", "something to wear", "a new arrival, product photo", "a garment", "a dress",
                   "a shirt", "a skirt", "a hoodie")
WEIGHTS = (0.0, 0.5, 1.0)
READ = ("color", "garment")


def _shares(reads: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    return {a: {value: round(n / len(reads), 4) for value, n in Counter(r[a] for r in reads).most_common()}
            for a in READ}


def _total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    return round(0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q)), 4)


def lora_shift(base: str | None, lora: Path, data: list[Image.Image], judge: Judge, repository: Path,
               seeds: int = 6, weights: tuple[float, ...] = WEIGHTS, progress: bool = True) -> dict[str, Any]:
    """The judged colour and garment shares of NEUTRAL_PROMPTS x `seeds` drawn at each LoRA weight, beside those
    of the LoRA's training pictures `data`."""
    if base is None:
        raise AtelierError("a LoRA's shift is measured on a trained txt2img: run `atelier train generators` (or "
                           "`atelier up`) first, or pass --base")
    if not data:
        raise AtelierError("the LoRA's training pictures are needed to measure a shift towards them")
    target = _shares(judge.read(data))
    top = {a: next(iter(target[a])) for a in READ}
    requests = [{"prompt": prompt, "seed": seed, "width": SIZE, "height": SIZE}
                for prompt in NEUTRAL_PROMPTS for seed in range(seeds)]
    report: dict[str, Any] = {"base": base, "lora": str(lora), "prompts": list(NEUTRAL_PROMPTS), "seeds": seeds,
                              "data": {"pictures": len(data), "top": top, **target}, "weights": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for weight in weights:
            pipe = load_diffusers_pipeline("txt2img", "tiny", base, lora=str(lora) if weight else None,
                                           lora_scale=weight)
            pipeline = runnable("txt2img", pipe, repository, Path(scratch) / str(weight))
            images = run_pipeline(pipeline, requests, progress, f"txt2img, LoRA weight {weight}")
            drawn = _shares(judge.read(images))
            report["weights"][str(weight)] = {
                "share_of_data_top": {a: drawn[a].get(top[a], 0.0) for a in READ},
                "total_variation_to_data": {a: _total_variation(drawn[a], target[a]) for a in READ}, **drawn}
    return report


def write_lora_shift(report: dict[str, Any], out_dir: Path) -> None:
    """lora_shift.json and lora_shift.png (the drawn colours' and garments' distance to the data's, by weight)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "lora_shift.json").write_text(json.dumps(report, indent=2))
    weights = list(report["weights"])
    with saved_figure(out_dir / "lora_shift.png", ncols=1, figsize=(6, 4)) as axis:
        for n, a in enumerate(READ):
            distances = [report["weights"][w]["total_variation_to_data"][a] for w in weights]
            axis.bar(np.arange(len(weights)) + (n - 0.5) * 0.4, distances, 0.4, label=a)
        axis.set_xticks(np.arange(len(weights)), [f"LoRA weight {w}" for w in weights])
        axis.set_ylim(0, 1)
        axis.set_ylabel("distance to the LoRA data's shares\n(total variation; 0 = the same)")
        axis.set_title(f"Neutral prompts towards the {report.get('toward', 'LoRA data')}", fontsize=10)
        axis.legend(fontsize=8)
