"""Export a diffusion pipeline's networks to ONNX for Triton, each checked against PyTorch.

Which networks a pipeline has, and their tensors, its builder says (models/diffusion/<pipeline>.py): for
`txt2img` (SDXL) sdxl_text_encoder, sdxl_text_encoder_2, sdxl_unet and sdxl_vae_decoder, each written to
<name>/1/model.onnx. The Python model's version folder (txt2img/1, ...) gets export.json (what was built,
the network names, the VAE's constants, the parity figures), the tokenizers and the scheduler config.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from diffusers import DiffusionPipeline
from torch import nn

from atelier.config import AtelierError
from atelier.diffusion.exported import Build, PipelineRecord, Vae
from atelier.families import FAMILIES, MODEL_PROFILES, PIPELINES
from models.diffusion import SAMPLING_FILE, load_diffusers_pipeline, traced_networks

ONNX_OPSET = 17
PARITY_TOLERANCE = 1e-3  # max abs difference ONNX Runtime vs PyTorch, fp32


class TorchNetworks:
    """A pipeline's networks as the PyTorch modules they are exported from, behind the `Networks` call.

    The denoising loop in atelier.diffusion.pipelines then runs on PyTorch: the reference that the
    ONNX export and Triton are compared with where no diffusers pipeline exists (try-on), and how
    freshly trained weights are evaluated without exporting them.
    """

    def __init__(self, kind: str, pipe: DiffusionPipeline) -> None:
        self.modules = {name: (traced.module.eval(), traced.inputs, traced.outputs)
                        for name, traced in traced_networks(kind, pipe).items()}

    def __call__(self, model: str, inputs: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        module, input_names, output_names = self.modules[model]
        with torch.no_grad():
            result = module(*(torch.from_numpy(inputs[name]) for name in input_names))
        named = dict(zip(output_names, result if isinstance(result, tuple) else (result,)))
        return [named[name].numpy() for name in outputs]


def _export_one(module: nn.Module, inputs: tuple, input_names: list[str], output_names: list[str],
                axes: dict, path: Path) -> float:
    """Export to `path`; returns the max abs difference between ONNX Runtime and PyTorch on `inputs`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("*"):  # a previous export's external weight files
        if stale.is_file():
            stale.unlink()
    with warnings.catch_warnings():  # the tracer's notes on shape-dependent Python branches do not apply
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(module, inputs, str(path), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=input_names, output_names=output_names, dynamic_axes=axes)
    with torch.no_grad():
        expected = module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(output_names, {name: value.numpy() for name, value in zip(input_names, inputs)})
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))


def weights_sha256(pipe: DiffusionPipeline) -> str:
    digest = hashlib.sha256()
    for name in ("text_encoder", "text_encoder_2", "unet", "vae"):
        module = getattr(pipe, name, None)
        for key, tensor in sorted(module.state_dict().items()) if module is not None else []:
            digest.update(f"{name}.{key}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_pipeline(kind: str, pipe: DiffusionPipeline, repository: Path, build: Build) -> PipelineRecord:
    """Write `kind`'s networks and Python-model assets into `repository`; returns its export record."""
    parity = {}
    for name, traced in traced_networks(kind, pipe).items():
        traced.module.eval()
        parity[name] = _export_one(traced.module, traced.example, traced.inputs, traced.outputs, traced.axes,
                                   repository / name / "1" / "model.onnx")
        if parity[name] > PARITY_TOLERANCE:
            raise AtelierError(f"{name}: ONNX Runtime differs from PyTorch by {parity[name]:.2e} "
                               f"(tolerance {PARITY_TOLERANCE:.0e})")
    return write_assets(kind, pipe, repository / kind / "1", build, parity)


def _native_size(defaults: dict[str, float], pipe: DiffusionPipeline) -> dict[str, int]:
    """For a pipeline whose requests give a size (txt2img; the others take an image's), the size its UNet was
    built for: its sample_size times the VAE's scale factor, as in diffusers."""
    if not {"width", "height"} <= set(defaults):
        return {}
    side = pipe.unet.config.sample_size * pipe.vae_scale_factor
    return {"width": side, "height": side}


def checkpoint_sampling(source: str | None) -> dict[str, float]:
    """The sampling defaults a local checkpoint folder carries in SAMPLING_FILE; none for the others."""
    path = Path(source) / SAMPLING_FILE if source else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else {}


def write_assets(kind: str, pipe: DiffusionPipeline, version_dir: Path, build: Build,
                 parity: dict[str, float]) -> PipelineRecord:
    """What the Python model reads beside its networks: tokenizers, scheduler config and export.json (returned)."""
    version_dir.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer", "tokenizer_2"):
        if (tokenizer := getattr(pipe, name, None)) is not None:
            tokenizer.save_pretrained(version_dir / name)
    pipe.scheduler.save_config(version_dir / "scheduler")
    defaults = MODEL_PROFILES[build.profile].defaults[kind]
    record = PipelineRecord(
        pipeline=kind,
        build=build,
        weights_sha256=weights_sha256(pipe),
        networks=sorted(FAMILIES[kind].networks),
        prefix=FAMILIES[kind].prefix,
        vae=Vae(pipe.vae_scale_factor, pipe.vae.config.scaling_factor, pipe.vae.config.latent_channels),
        force_zeros_for_empty_prompt=bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False)),
        defaults=defaults | _native_size(defaults, pipe) | checkpoint_sampling(build.source),
        max_side=MODEL_PROFILES[build.profile].max_side,
        onnx_vs_torch_max_abs=parity,
    )
    record.write(version_dir)
    return record


def load_exported_pipeline(repository: Path, kind: str) -> DiffusionPipeline:
    """The PyTorch pipeline that the repository's `kind` model was exported from."""
    record = PipelineRecord.read(repository / kind / "1")
    build = record.build
    pipe = load_diffusers_pipeline(kind, build.profile, build.source, build.lora, build.lora_scale, build.attention)
    if weights_sha256(pipe) != record.weights_sha256:
        raise AtelierError(f"rebuilding {build} no longer gives the exported {kind} weights; run `atelier export`")
    return pipe


def export_is_current(repository: Path, kind: str) -> bool:
    """Whether the repository's `kind` still serves what its source holds: the same weights (a folder trained
    again has others) and the folder's sampling settings as its defaults."""
    record = PipelineRecord.read(repository / kind / "1")
    try:
        load_exported_pipeline(repository, kind)
    except AtelierError:
        return False
    return record.defaults == record.defaults | checkpoint_sampling(record.build.source)


def export_pipelines(repository: Path, profile: str, kinds: tuple[str, ...] = PIPELINES,
                     sources: dict[str, str] | None = None, lora: str | None = None,
                     lora_scale: float = 1.0, attention: str | None = None) -> dict[str, PipelineRecord]:
    """Build and export each pipeline in `kinds`; returns {kind: export record}. Shows progress."""
    from tqdm import tqdm

    records = {}
    for kind in (bar := tqdm(kinds, desc="export", unit="pipeline")):
        bar.set_postfix_str(kind)
        source = (sources or {}).get(kind)
        kind_lora = lora if FAMILIES[kind].lora else None
        kind_attention = attention if FAMILIES[kind].attention else None
        pipe = load_diffusers_pipeline(kind, profile, source, kind_lora, lora_scale, kind_attention)
        build = Build(profile, source, kind_lora, lora_scale, kind_attention)
        records[kind] = export_pipeline(kind, pipe, repository, build)
    return records
