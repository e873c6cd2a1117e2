"""txt2img: SDXL text-to-image; the loop is atelier/diffusion/pipelines/txt2img.py."""

from atelier.diffusion.triton_model import PipelineModel


class TritonPythonModel(PipelineModel):
    pass
