"""Export a diffusion pipeline's networks to ONNX for Triton, each checked against PyTorch.

For pipeline `txt2img` (SDXL) it writes:
  sdxl_text_encoder/1/model.onnx    input_ids -> hidden_states (penultimate layer)
  sdxl_text_encoder_2/1/model.onnx  input_ids -> hidden_states (penultimate), text_embeds (pooled)
  sdxl_unet/1/model.onnx            sample, timestep, encoder_hidden_states, text_embeds, time_ids -> noise_pred
  sdxl_vae_decoder/1/model.onnx     latents -> image
and for `edit` (pix2pix_*) and `inpaint` (inpaint_*): text_encoder (last hidden state), unet,
vae_encoder (image -> latent_parameters: the Gaussian's mean and log-variance) and vae_decoder;
`tryon` (tryon_*) the same without a text encoder, its UNet taking no encoder_hidden_states.
The Python model's version folder (txt2img/1, ...) gets export.json (what was built, the network
names, the VAE's constants, the parity figures), the tokenizers and the scheduler config.
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
from models.diffusion import SAMPLING_FILE, load_diffusers_pipeline

ONNX_OPSET = 17
PARITY_TOLERANCE = 1e-3  # max abs difference ONNX Runtime vs PyTorch, fp32


class TextEncoder(nn.Module):
    """CLIP text encoder -> the hidden states a pipeline conditions on (and the pooled projection)."""

    def __init__(self, encoder: nn.Module, penultimate: bool, pooled: bool) -> None:
        super().__init__()
        self.encoder, self.penultimate, self.pooled = encoder, penultimate, pooled

    def forward(self, input_ids: torch.Tensor):
        out = self.encoder(input_ids, output_hidden_states=True)
        hidden = out.hidden_states[-2] if self.penultimate else out.last_hidden_state
        return (hidden, out.text_embeds) if self.pooled else hidden


class UNet(nn.Module):
    def __init__(self, unet: nn.Module, text_time: bool) -> None:
        super().__init__()
        self.unet, self.text_time = unet, text_time

    def forward(self, sample, timestep, encoder_hidden_states=None, text_embeds=None, time_ids=None):
        added = {"text_embeds": text_embeds, "time_ids": time_ids} if self.text_time else None
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added, return_dict=False)[0]


class VaeEncoder(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.vae._encode(image)  # the moments DiagonalGaussianDistribution is built from


class VaeDecoder(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, return_dict=False)[0]


def _networks(kind: str, pipe: DiffusionPipeline, size: int = 64) -> dict[str, tuple]:
    """name -> (module, example inputs, input names, output names, dynamic axes)."""
    gen = torch.Generator().manual_seed(0)
    prefix, latent = FAMILIES[kind].prefix, size // pipe.vae_scale_factor
    context = 77  # CLIP's
    text_axes = {"input_ids": {0: "batch"}, "hidden_states": {0: "batch"}, "text_embeds": {0: "batch"}}
    image_axes = {0: "batch", 2: "height", 3: "width"}
    unet_cfg = pipe.unet.config
    # Traced at odd latent sizes, so the graph keeps the UNet's path for sizes that do not halve evenly
    # (diffusers takes it only when it is needed, and the tracer records one path).
    sample = torch.randn(2, unet_cfg.in_channels, latent + 1, latent - 1, generator=gen)
    timestep = torch.tensor([999.0, 10.0])
    hidden = torch.randn(2, context, unet_cfg.cross_attention_dim, generator=gen)
    unet_axes = {"sample": image_axes, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch"},
                 "noise_pred": image_axes}
    nets = {}
    if kind != "tryon":
        ids = torch.tensor(pipe.tokenizer(["a linen shirt", "a red dress"], padding="max_length",
                                          max_length=context).input_ids)
    if kind == "txt2img":
        nets[f"{prefix}_text_encoder"] = (TextEncoder(pipe.text_encoder, True, False), (ids,), ["input_ids"],
                                          ["hidden_states"], text_axes)
        nets[f"{prefix}_text_encoder_2"] = (TextEncoder(pipe.text_encoder_2, True, True), (ids,), ["input_ids"],
                                            ["hidden_states", "text_embeds"], text_axes)
        pooled = torch.randn(2, pipe.text_encoder_2.config.projection_dim, generator=gen)
        time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]] * 2)
        nets[f"{prefix}_unet"] = (
            UNet(pipe.unet, True), (sample, timestep, hidden, pooled, time_ids),
            ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], ["noise_pred"],
            {**unet_axes, "text_embeds": {0: "batch"}, "time_ids": {0: "batch"}},
        )
    else:
        if kind == "tryon":  # cross-attention is skipped: no text, no encoder_hidden_states
            del unet_axes["encoder_hidden_states"]
            nets[f"{prefix}_unet"] = (UNet(pipe.unet, False), (sample, timestep), ["sample", "timestep"],
                                      ["noise_pred"], unet_axes)
        else:
            nets[f"{prefix}_text_encoder"] = (TextEncoder(pipe.text_encoder, False, False), (ids,), ["input_ids"],
                                              ["hidden_states"], text_axes)
            nets[f"{prefix}_unet"] = (UNet(pipe.unet, False), (sample, timestep, hidden),
                                      ["sample", "timestep", "encoder_hidden_states"], ["noise_pred"], unet_axes)
        image = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
        nets[f"{prefix}_vae_encoder"] = (VaeEncoder(pipe.vae), (image,), ["image"], ["latent_parameters"],
                                         {"image": image_axes, "latent_parameters": image_axes})
    latents = torch.randn(2, pipe.vae.config.latent_channels, latent, latent, generator=gen)
    nets[f"{prefix}_vae_decoder"] = (VaeDecoder(pipe.vae), (latents,), ["latents"], ["image"],
                                     {"latents": image_axes, "image": image_axes})
    return nets


class TorchNetworks:
    """A pipeline's networks as the PyTorch modules they are exported from, behind the `Networks` call.

    The denoising loop in atelier.diffusion.pipelines then runs on PyTorch: the reference that the
    ONNX export and Triton are compared with where no diffusers pipeline exists (try-on), and how
    freshly trained weights are evaluated without exporting them.
    """

    def __init__(self, kind: str, pipe: DiffusionPipeline) -> None:
        self.modules = {name: (module.eval(), input_names, output_names)
                        for name, (module, _, input_names, output_names, _) in _networks(kind, pipe).items()}

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
    for name, (module, inputs, input_names, output_names, axes) in _networks(kind, pipe).items():
        module.eval()
        parity[name] = _export_one(module, inputs, input_names, output_names, axes,
                                   repository / name / "1" / "model.onnx")
        if parity[name] > PARITY_TOLERANCE:
            raise AtelierError(f"{name}: ONNX Runtime differs from PyTorch by {parity[name]:.2e} "
                               f"(tolerance {PARITY_TOLERANCE:.0e})")
    return write_assets(kind, pipe, repository / kind / "1", build, parity)


def _native_size(kind: str, pipe: DiffusionPipeline) -> dict[str, int]:
    """The size txt2img's UNet was built for: its sample_size times the VAE's scale factor, as in diffusers."""
    if kind != "txt2img":
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
    if kind != "tryon":
        pipe.tokenizer.save_pretrained(version_dir / "tokenizer")
    if kind == "txt2img":
        pipe.tokenizer_2.save_pretrained(version_dir / "tokenizer_2")
    pipe.scheduler.save_config(version_dir / "scheduler")
    profile = MODEL_PROFILES[build.profile]
    record = PipelineRecord(
        pipeline=kind,
        build=build,
        weights_sha256=weights_sha256(pipe),
        networks=sorted(_networks(kind, pipe)),
        prefix=FAMILIES[kind].prefix,
        vae=Vae(pipe.vae_scale_factor, pipe.vae.config.scaling_factor, pipe.vae.config.latent_channels),
        force_zeros_for_empty_prompt=bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False)),
        defaults=profile.defaults[kind] | _native_size(kind, pipe) | checkpoint_sampling(build.source),
        max_side=profile.max_side,
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
        kind_lora = lora if kind == "txt2img" else None
        kind_attention = attention if kind == "tryon" else None
        pipe = load_diffusers_pipeline(kind, profile, source, kind_lora, lora_scale, kind_attention)
        build = Build(profile, source, kind_lora, lora_scale, kind_attention)
        records[kind] = export_pipeline(kind, pipe, repository, build)
    return records
