"""tryon: CatVTON-style virtual try-on with paste-back; the loop is atelier/diffusion/pipelines/tryon.py."""

from atelier.diffusion.triton_model import PipelineModel


class TritonPythonModel(PipelineModel):
    pass
