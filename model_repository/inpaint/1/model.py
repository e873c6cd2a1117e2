"""inpaint: SD inpainting with paste-back; the loop is atelier/diffusion/pipelines/inpaint.py."""

from atelier.diffusion.triton_model import PipelineModel


class TritonPythonModel(PipelineModel):
    pass
