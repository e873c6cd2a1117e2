"""edit: instruct-pix2pix editing; the loop is atelier/diffusion/pipelines/edit.py."""

from atelier.diffusion.triton_model import PipelineModel


class TritonPythonModel(PipelineModel):
    pass
