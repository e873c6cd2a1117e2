# Triton Inference Server for the Atelier model repository (mounted at /models by docker-compose.yml).
#
# 24.10 ships Triton 2.51.0: the same server that nvidia-pytriton==0.7.0 embeds for `atelier serve`,
# so the BLS models behave here as they do in the test suite. Its native onnxruntime backend
# (ONNX Runtime 1.19) serves the opset-17 exports; its python backend runs clip_text / clip_image
# on the image's own Python (Ubuntu 22.04, Python 3.10). CUDA 12.6: host driver >= 560, or a
# data-center driver R535/R545 through CUDA forward compatibility.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

# The BLS models load their tokenizer from their own version folder: never reach for the HF Hub.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# What the Python models import, at the versions pyproject.toml pins where the image's Python 3.10
# allows:
# - numpy 1.26.4: the Python backend stub returns empty outputs with numpy 2.
# - pillow 12.3.0: pillow 13 (the project's pin) has no Python 3.10 wheels.
# - torch / torchvision: CPU builds. open_clip needs torch only to tokenize, and the default
#   PyPI build would add several GB of CUDA 13 wheels; the GPU work is done by onnxruntime.
# - transformers + sentencepiece: the full profile's SigLIP tokenizer is a Hugging Face tokenizer,
#   which open_clip loads through transformers (open_clip_torch does not depend on it).
# - diffusers: the schedulers and image processors of txt2img / edit / inpaint.
RUN python3 -m pip install --extra-index-url https://download.pytorch.org/whl/cpu \
        numpy==1.26.4 \
        pillow==12.3.0 \
        torch==2.13.0+cpu \
        torchvision==0.28.0+cpu \
        open_clip_torch==3.3.0 \
        transformers==5.20.2 \
        sentencepiece==0.2.3 \
        diffusers==0.42.1 \
    && python3 -c "import numpy, open_clip, transformers; assert numpy.__version__ == '1.26.4', numpy.__version__"

# The Python models import the `atelier` package (image decoding, the denoising loops); its own
# dependencies are the ones above, so it goes in without them.
COPY pyproject.toml README.md /opt/atelier/
COPY atelier /opt/atelier/atelier
RUN python3 -m pip install --no-deps /opt/atelier \
    && python3 -c "import atelier.diffusion.pipelines, atelier.images"

EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models"]
