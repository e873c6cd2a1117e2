"""txt2img: SDXL text-to-image; the loop is atelier.diffusion.pipelines.Text2Image."""

from atelier.diffusion.triton_model import PipelineModel


class TritonPythonModel(PipelineModel):
    pass
