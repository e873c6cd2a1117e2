"""`atelier export --trt`: TensorRT engines for the ONNX networks, where TensorRT and a GPU are at hand.

For each network of the exported families (the CLIP encoders, the pipelines' text encoders, UNets
and VAEs) it builds one engine with one optimisation profile covering every shape the calling
Python model can send, writes `<network>/1/model.plan` beside `model.onnx`, and switches the
network's config.pbtxt to `backend: "tensorrt"` (instances on the GPU); `<network>/1/export.json`
records the TensorRT version, the GPU, the precision, the profile and the onnxruntime config,
which `atelier export` puts back before it exports that family again.

Precision: networks are strongly typed from TensorRT 11 on (BuilderFlag.FP16 is gone), so fp16 is
the ONNX graph's own: it is converted with ONNX Runtime's float16 tool, inputs and outputs kept
FP32 so the configs and the calling code stay as they are. The VAEs stay FP32, as diffusers
upcasts them (`force_upcast`): SDXL's VAE overflows in fp16.

Where TensorRT or a GPU is missing, or one network fails to parse or build, the ONNX model and
its onnxruntime config stay: the export still succeeds. The Python (BLS) models call networks by
name, so they do not care which backend serves them.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2

from atelier.diffusion.exported import PipelineRecord, served_record
from atelier.diffusion.inputs import MIN_SIDE
from atelier.families import FAMILIES, MODEL_PROFILES, PIPELINES
from atelier.model_repository import read_config, read_config_text
from atelier.processes import visible_gpus

# An input image is fitted within max_side with sides rounded down to multiples of 8, never below 8
# (atelier.images.fit_within): a long, thin photo can have an 8-pixel side.
SMALLEST_FITTED_SIDE = 8
MIN_TENSORRT_MAJOR = 10  # INT64 inputs (input_ids) and strongly typed networks
RECORD = "export.json"


class TensorRTUnavailable(Exception):
    """TensorRT cannot build here: the message says why."""


@dataclass(frozen=True)
class Range:
    """min <= opt <= max of one dynamic dimension."""

    min: int
    opt: int
    max: int


Shapes = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # min, opt, max of one input


def family_networks(repository: Path, family: str) -> list[str]:
    """The ONNX networks of `family` (clip, txt2img, edit, inpaint, tryon) that --trt builds engines of and the
    repository holds."""
    networks = FAMILIES[family].networks if FAMILIES[family].engines else ()
    return [name for name in networks if (Path(repository) / name / "config.pbtxt").exists()]


def pipeline_ranges(kind: str, rows: int, spec: PipelineRecord) -> dict[str, dict[str, Range]]:
    """network -> {dynamic dimension (batch, height, width): Range} for a pipeline's networks.

    `rows` is the Python model's max_batch_size: the most rows it denoises together. `spec` is its
    export record (defaults, max_side, vae.scale_factor, build.profile). The optimum is one request with
    guidance at the profile's default size (txt2img's for the pipelines that take an image: the
    dashboard edits the generated images).
    """
    factor, max_side = spec.vae.scale_factor, spec.max_side
    default = spec.defaults.get("width") or MODEL_PROFILES[spec.build.profile].defaults["txt2img"]["width"]
    family = FAMILIES[kind]
    takes_image = f"{family.prefix}_vae_encoder" in family.networks  # and fits it within max_side, however small
    smallest = SMALLEST_FITTED_SIDE if takes_image else MIN_SIDE
    pixels = Range(smallest, min(default, max_side), max_side)
    latents = Range(pixels.min // factor, pixels.opt // factor, pixels.max // factor)
    one_batch = {"batch": Range(1, 1, rows)}
    guided, stack = family.guidance_rows, family.latent_stack
    # Try-on stacks the person's latents over the garment's: the UNet sees twice the height.
    stacked = Range(stack * latents.min, stack * latents.opt, stack * latents.max)
    roles = {
        "text_encoder": one_batch,
        "text_encoder_2": one_batch,
        "unet": {"batch": Range(1, guided, guided * rows), "height": stacked, "width": latents},
        "vae_encoder": {**one_batch, "height": pixels, "width": pixels},
        "vae_decoder": {**one_batch, "height": latents, "width": latents},
    }
    return {f"{family.prefix}_{role}": ranges for role, ranges in roles.items()}


def repository_ranges(repository: Path) -> dict[str, dict[str, Range]]:
    """Ranges for every network of the repository whose family is exported (CLIP, the pipelines)."""
    repository = Path(repository)
    ranges = {}
    # CLIP's networks are dynamically batched by Triton: a search sends one, ingest up to max_batch_size.
    for name in FAMILIES["clip"].networks:
        if (repository / name / "config.pbtxt").exists():
            ranges[name] = {"batch": Range(1, 1, read_config(repository / name / "config.pbtxt").max_batch_size)}
    for kind in PIPELINES:
        if (record := served_record(repository, kind)) is not None:
            rows = read_config(repository / kind / "config.pbtxt").max_batch_size
            networks = pipeline_ranges(kind, rows, record)
            ranges.update({name: r for name, r in networks.items() if (repository / name / "config.pbtxt").exists()})
    return ranges


def onnx_inputs(path: Path) -> dict[str, list[int | str]]:
    """The ONNX graph's inputs: fixed sizes as ints, dynamic ones by their names (batch, height, width)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return {tensor.name: [dim.dim_param or dim.dim_value for dim in tensor.type.tensor_type.shape.dim]
            for tensor in graph.input if tensor.name not in weights}


def optimisation_profile(inputs: dict[str, list[int | str]], ranges: dict[str, Range],
                         config: model_config_pb2.ModelConfig) -> dict[str, Shapes]:
    """input -> (min, opt, max) shapes; ValueError where a dynamic dimension has no range or the shapes
    contradict the config's dims (which include the batch when max_batch_size is 0)."""
    config_dims = {tensor.name: list(tensor.dims) for tensor in config.input}
    shapes = {}
    for name, dims in inputs.items():
        unknown = [dim for dim in dims if dim == 0 or (isinstance(dim, str) and dim not in ranges)]
        if unknown:
            raise ValueError(f"input {name} has dimensions {dims}: no range for the dynamic {unknown}")
        low, opt, high = ([dim if isinstance(dim, int) else getattr(ranges[dim], end) for dim in dims]
                          for end in ("min", "opt", "max"))
        declared = config_dims.get(name)
        served = high if config.max_batch_size == 0 else high[1:]
        if declared is None or len(declared) != len(served) or any(
                d not in (-1, s) for d, s in zip(declared, served)):
            raise ValueError(f"input {name}: the ONNX shape {dims} does not fit the config's dims {declared}")
        shapes[name] = (tuple(low), tuple(opt), tuple(high))
    return shapes


def tensorrt_config(text: str) -> str:
    """The onnxruntime config switched to TensorRT: same tensors and batching, instances on the GPU."""
    converted = re.sub(r'backend:\s*"onnxruntime"', 'backend: "tensorrt"', text)
    converted = re.sub(r"KIND_(CPU|AUTO)", "KIND_GPU", converted)
    header = (f"# Switched to TensorRT by `atelier export --trt` (1/model.plan); 1/{RECORD} keeps the onnxruntime\n"
              "# config, which the next `atelier export` of this family puts back.\n")
    config = read_config_text(header + converted)
    if config.backend != "tensorrt" or any(group.kind != group.KIND_GPU for group in config.instance_group):
        raise ValueError("the config does not name backend onnxruntime")
    return header + converted


def restore_onnx_configs(repository: Path, families: list[str]) -> list[str]:
    """Put back the onnxruntime config of the families' networks that `--trt` switched; returns their names."""
    restored = []
    for family in families:
        for name in family_networks(repository, family):
            version_dir = Path(repository) / name / "1"
            record = version_dir / RECORD
            if not record.exists():
                continue
            (version_dir.parent / "config.pbtxt").write_text(json.loads(record.read_text())["onnxruntime_config"])
            (version_dir / "model.plan").unlink(missing_ok=True)
            record.unlink()
            restored.append(name)
    return restored


def load_builder():
    """(tensorrt module, logger, builder); TensorRTUnavailable without TensorRT 10+ or a GPU it can use."""
    try:
        import tensorrt as trt
    except ImportError as error:
        raise TensorRTUnavailable(f"TensorRT is not installed (pip install tensorrt; {error})") from error
    if int(trt.__version__.split(".")[0]) < MIN_TENSORRT_MAJOR:
        raise TensorRTUnavailable(f"TensorRT {trt.__version__} is older than {MIN_TENSORRT_MAJOR}")
    logger = trt.Logger(trt.Logger.ERROR)
    try:
        builder = trt.Builder(logger)
    except (RuntimeError, TypeError) as error:  # no CUDA device: the factory returns nullptr
        raise TensorRTUnavailable(f"no CUDA GPU visible to TensorRT ({error})") from error
    if builder is None:
        raise TensorRTUnavailable("no CUDA GPU visible to TensorRT")
    return trt, logger, builder


def precision(network: str) -> str:
    return "fp32" if "_vae_" in network else "fp16"


def _fp16_onnx(source: Path, folder: Path) -> Path:
    """`source` with float16 weights and compute, FP32 inputs and outputs; external data, so > 2 GB fits."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(str(source), keep_io_types=True)  # a path: shape inference works > 2 GB
    path = folder / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="weights.bin")
    return path


def build_engine(trt, logger, builder, onnx_path: Path, shapes: dict[str, Shapes]) -> bytes:
    """A serialized engine of the (strongly typed) ONNX graph with one optimisation profile."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"the ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("build_serialized_network returned no engine (see TensorRT's log above)")
    return bytes(plan)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def build_engines(repository: Path, families: list[str]) -> dict[str, str]:
    """Engines for the families' networks; returns {network: "tensorrt" or why it stays ONNX}. Never raises
    for a missing TensorRT or GPU or a network that fails: those keep their ONNX model and say so."""
    repository = Path(repository)
    networks = [name for family in families for name in family_networks(repository, family)
                if (repository / name / "1" / "model.onnx").exists()]
    skipped = [family for family in families if family in ("parser", "warping")]
    if skipped:
        _say(f"atelier: --trt: no TensorRT profile for {', '.join(skipped)} yet; they stay ONNX (onnxruntime)")
    if not networks:
        return {}
    try:
        trt, logger, builder = load_builder()
    except TensorRTUnavailable as reason:
        _say(f"atelier: --trt: {reason}; keeping the ONNX models (backend onnxruntime)")
        return dict.fromkeys(networks, str(reason))
    ranges, gpu, results = repository_ranges(repository), next(iter(visible_gpus()), None), {}
    for name in networks:
        model_dir = repository / name
        onnx_path = model_dir / "1" / "model.onnx"
        try:
            original = (model_dir / "config.pbtxt").read_text()
            config = tensorrt_config(original)
            shapes = optimisation_profile(onnx_inputs(onnx_path), ranges[name], read_config_text(original))
            _say(f"building the TensorRT engine of {name} ({precision(name)}) ...")
            with tempfile.TemporaryDirectory() as folder:
                source = _fp16_onnx(onnx_path, Path(folder)) if precision(name) == "fp16" else onnx_path
                plan = build_engine(trt, logger, builder, source, shapes)
        except Exception as error:  # this network keeps ONNX Runtime; the others go on
            _say(f"atelier: --trt: {name}: TensorRT failed ({error}); keeping its ONNX model (backend onnxruntime)")
            results[name] = str(error)
            continue
        (model_dir / "1" / "model.plan").write_bytes(plan)
        record = {"tensorrt": trt.__version__, "gpu": gpu, "precision": precision(name),
                  "profile": {input_name: {"min": s[0], "opt": s[1], "max": s[2]} for input_name, s in shapes.items()},
                  "onnxruntime_config": original}
        (model_dir / "1" / RECORD).write_text(json.dumps(record, indent=2))
        (model_dir / "config.pbtxt").write_text(config)
        results[name] = "tensorrt"
        _say(f"built {name}/1/model.plan (TensorRT {trt.__version__}, {gpu or 'GPU'}): backend tensorrt")
    return results
