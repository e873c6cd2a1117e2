"""Every model family Atelier serves, and every model profile, declared once.

A family is what `atelier export --only` names: the Triton models that clients call (`served`) and the
ONNX networks those call in turn (`networks`). A profile is a model size: `tiny` (built here, runs on any
laptop) or `full` (the published weights), with what it gives a request that leaves a parameter out.

Adding a family: its entry here (and its request defaults in each profile), its PyTorch builder in models/,
its Triton folders in model_repository/. A pipeline family `name` finds its builder in
models/diffusion/<name>.py (the networks export writes) and its denoising loop in
atelier/diffusion/pipelines/<name>.py (what its Triton model runs); export, TensorRT, serving, evaluation,
benchmarks and the dashboard take everything else from here. Any other family names its export in
export/families.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    name: str
    title: str  # how the dashboard names it
    served: tuple[str, ...] = ()  # the Triton models that clients call
    networks: tuple[str, ...] = ()  # the ONNX networks its export writes, which the served models call
    prefix: str = ""  # a diffusion pipeline's networks are named <prefix>_<role>
    guidance_rows: int = 1  # pipelines: rows the UNet sees per request row with guidance on
    command: str = ""  # the `atelier` command that generates with it
    default: bool = True  # exported by `atelier export` without --only
    engines: bool = True  # `atelier export --trt` builds TensorRT engines of its networks
    lora: bool = False  # pipelines: a LoRA may be fused into its UNet
    attention: bool = False  # pipelines: trained self-attention weights may be loaded into its UNet (CatVTON)
    latent_stack: int = 1  # pipelines: latents stacked along the height in one UNet sample (try-on: person, garment)

    @property
    def is_pipeline(self) -> bool:
        return bool(self.prefix)


def _pipeline(name: str, title: str, prefix: str, roles: tuple[str, ...], guidance_rows: int, command: str = "",
              **options) -> Family:
    return Family(name, title, served=(name,), networks=tuple(f"{prefix}_{role}" for role in roles), prefix=prefix,
                  guidance_rows=guidance_rows, command=command or name, **options)


TEXT_IMAGE_ROLES = ("text_encoder", "unet", "vae_encoder", "vae_decoder")
# guidance_rows: txt2img, inpaint and tryon run [unconditional, conditional] rows through the UNet, edit runs
# [text, image only, unconditional] (atelier/diffusion/pipelines/).
FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("clip", "Embeddings", served=("clip_text", "clip_image"),
           networks=("clip_image_encoder", "clip_text_encoder")),
    _pipeline("txt2img", "Text-to-image", "sdxl", ("text_encoder", "text_encoder_2", "unet", "vae_decoder"), 2,
              command="generate", lora=True),
    _pipeline("edit", "Instruction editing", "pix2pix", TEXT_IMAGE_ROLES, 3),
    _pipeline("inpaint", "Inpainting", "inpaint", TEXT_IMAGE_ROLES, 2),
    _pipeline("tryon", "Try-on", "tryon", ("unet", "vae_encoder", "vae_decoder"), 2, attention=True, latent_stack=2),
    Family("parser", "Human parsing", networks=("tryon_parser",), default=False, engines=False),
    Family("warping", "Garment warping", networks=("tryon_warp",), default=False, engines=False),
)}
PIPELINES = tuple(name for name, family in FAMILIES.items() if family.is_pipeline)
SERVED = tuple(model for family in FAMILIES.values() for model in family.served)  # every model a client may call


@dataclass(frozen=True)
class ModelProfile:
    name: str
    clip_model: str  # an open_clip config (models/configs/) or hf-hub id
    # pipeline -> the checkpoint it loads (hub id); a pipeline without one is built at toy widths with seeded
    # random weights (models/diffusion/<pipeline>.py: tiny)
    sources: dict[str, str] = field(default_factory=dict)
    # pipeline -> what a request gets when it leaves a parameter out. A trained txt2img built for another size
    # sets its own width and height, and a trained folder's sampling.json its guidance (export/diffusion.py).
    defaults: dict[str, dict[str, float]] = field(default_factory=dict)
    max_side: int = 512  # the longest image side the pipelines take
    image_sides: tuple[int, ...] = ()  # the sizes the Generate page offers
    lora_steps: int = 20  # `atelier train lora` without --steps, --resolution
    lora_resolution: int = 64
    lora_lr: float = 1e-4  # diffusers' SDXL LoRA example's
    lora_validation_steps: int = 2  # denoising steps of its validation images


MODEL_PROFILES: dict[str, ModelProfile] = {profile.name: profile for profile in (
    ModelProfile("tiny", "atelier-tiny-clip", {},
                 {"txt2img": {"steps": 20, "guidance_scale": 5.0, "width": 256, "height": 256},
                  "edit": {"steps": 20, "guidance_scale": 7.5, "image_guidance_scale": 1.5},
                  "inpaint": {"steps": 20, "guidance_scale": 7.5, "strength": 1.0},
                  "tryon": {"steps": 20, "guidance_scale": 2.5}},
                 max_side=512, image_sides=(256, 384, 512), lora_steps=20, lora_resolution=64, lora_validation_steps=2,
                 lora_lr=1e-3),  # the tiny networks train at 2e-3: at 1e-4 a shopper's LoRA moved nothing
    ModelProfile("full", "hf-hub:Marqo/marqo-fashionSigLIP",
                 {"txt2img": "stabilityai/stable-diffusion-xl-base-1.0",
                  "edit": "timbrooks/instruct-pix2pix",
                  # runwayml's original SD 1.5 inpainting checkpoint, as mirrored by the stable-diffusion-v1-5 org
                  "inpaint": "stable-diffusion-v1-5/stable-diffusion-inpainting",
                  "tryon": "stable-diffusion-v1-5/stable-diffusion-inpainting"},  # CatVTON's base UNet, scheduler
                 {"txt2img": {"steps": 30, "guidance_scale": 5.0, "width": 1024, "height": 1024},
                  "edit": {"steps": 20, "guidance_scale": 7.5, "image_guidance_scale": 1.5},
                  "inpaint": {"steps": 30, "guidance_scale": 7.5, "strength": 1.0},
                  "tryon": {"steps": 50, "guidance_scale": 2.5}},  # tryon: CatVTON's defaults
                 max_side=1536, image_sides=(768, 1024, 1280), lora_steps=1000, lora_resolution=1024,
                 lora_validation_steps=20),
)}
