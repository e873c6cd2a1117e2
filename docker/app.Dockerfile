# Atelier dashboard (Streamlit). A client only: it talks to Triton over gRPC and to Milvus, so it
# needs no GPU. Build context: the repository root (see .dockerignore).
FROM python:3.11-slim-bookworm

# The CPU index lets torch==2.13.0 resolve to 2.13.0+cpu; from PyPI alone it would bring several
# GB of CUDA 13 wheels that a dashboard never uses.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app

# Dependencies first, in their own layer so that code edits do not reinstall torch: the direct
# dependencies from pyproject.toml, held to the versions in requirements.lock (as constraints,
# so the lock's CUDA-only wheels are not installed).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c requirements.lock

# The project itself (the `atelier` command included).
COPY . .
RUN pip install --no-deps .

# Run from the source tree, so that atelier.config's defaults resolve under /app as in a checkout;
# runtime state (demo catalog, rejects) goes to /var/lib/atelier, a volume in docker-compose.yml.
ENV PYTHONPATH=/app \
    ATELIER_HOME=/var/lib/atelier

EXPOSE 8501
CMD ["streamlit", "run", "dashboard/app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]
