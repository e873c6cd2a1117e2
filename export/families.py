"""Each model family's export, under the name `atelier export --only` takes (atelier/families.py).

An exporter builds its family's networks for a profile, writes them into a Triton model repository,
and returns what to tell the user, one line each. `atelier export` calls the families it is given
and nothing else; a family without an exporter here fails tests/unit/test_families.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from atelier.config import AtelierError
from atelier.families import PIPELINES


@dataclass(frozen=True)
class ExportOptions:
    """What `atelier export` was told: the profile, and each family's weights where not the profile's own."""

    profile: str
    clip_model: str | None = None  # an open_clip config or hf-hub id
    clip_checkpoint: Path | None = None  # from `atelier train clip`
    sources: dict[str, str | None] = field(default_factory=dict)  # pipeline -> checkpoint folder or hub id
    lora: str | None = None  # fused into txt2img's UNet
    lora_scale: float = 1.0
    tryon_attention: str | None = None  # from `atelier train tryon`
    parser_source: str | None = None  # a SegFormer clothes-parsing checkpoint
    warping_checkpoint: Path | None = None  # from `atelier train warping`


def export_clip_family(repository: Path, options: ExportOptions) -> list[str]:
    import json

    from export.clip import export_clip
    from export.parity import parity_report
    from models.clip import load_clip

    bundle = load_clip(options.profile, options.clip_model, options.clip_checkpoint)
    record = export_clip(bundle, repository)
    return [f"exported {record['id']} (dim {record['dim']}) to {repository}",
            json.dumps(parity_report(repository)["onnxruntime_vs_torch"])]


def export_pipeline_family(kind: str, repository: Path, options: ExportOptions) -> list[str]:
    from export.diffusion import export_pipelines

    said = []
    if kind == "tryon" and options.profile == "full" and not options.tryon_attention:
        said.append("tryon: loading CatVTON's self-attention weights (zhengchong/CatVTON), licensed CC BY-NC-SA 4.0: "
                    "non-commercial use only")
    record = export_pipelines(repository, options.profile, (kind,), options.sources, options.lora, options.lora_scale,
                              options.tryon_attention)[kind]
    worst = max(record.onnx_vs_torch_max_abs.values())
    return [*said, f"exported {kind} ({', '.join(record.networks)}); ONNX Runtime vs PyTorch max abs diff {worst:.1e}"]


def export_parser_family(repository: Path, options: ExportOptions) -> list[str]:
    from export.human_parser import export_human_parser

    record = export_human_parser(repository, options.profile, options.parser_source)
    return [f"exported tryon_parser ({record['source'] or 'tiny, random weights'}, licence: {record['licence']}); "
            "tryon now derives the mask of a request that sends none"]


def export_warping_family(repository: Path, options: ExportOptions) -> list[str]:
    if not options.warping_checkpoint:
        raise AtelierError("--only warping needs --warping-checkpoint (from `atelier train warping`)")
    from export.warping import export_warping_model

    record = export_warping_model(repository, options.warping_checkpoint)
    return [f"exported tryon_warp ({record['size'][0]}x{record['size'][1]}); ONNX Runtime vs PyTorch max abs diff "
            f"{record['onnx_vs_torch_max_abs']:.1e}; tryon now pre-warps garments with it"]


EXPORTERS: dict[str, Callable[[Path, ExportOptions], list[str]]] = {
    "clip": export_clip_family,
    **{kind: partial(export_pipeline_family, kind) for kind in PIPELINES},
    "parser": export_parser_family,
    "warping": export_warping_family,
}
