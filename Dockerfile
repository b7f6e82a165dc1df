# petbooth: two images from one file (see README "Docker"); compose.yaml builds and runs both.
#   bot     the Discord bot: Python slim, no torch (`pip install petbooth`)
#   engine  one engine per GPU on the CUDA runtime (`pip install "petbooth[engine]"`),
#           supervised by `petbooth run --no-bot`
# Build one alone: docker build --target bot -t petbooth-bot .
# Both run as uid 10001 so either can write what the other wrote on the shared /data volume.

# ---- bot: discord.py and the torch-free core only -------------------------------------
FROM python:3.12.11-slim-bookworm AS bot

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/petbooth \
    PATH=/opt/petbooth/bin:$PATH \
    PETBOOTH_DATA_DIR=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/petbooth

WORKDIR /app
# The versions the project tested: pyproject.toml's `dependencies`, nothing of [engine].
RUN pip install "aiosqlite==0.22.1" "Pillow==13.0.0" "pillow-heif==1.9.0" "pydantic==2.14.4" \
        "pydantic-settings==2.16.3" "discord.py==2.7.1" "obstore==0.12.1" \
        "psycopg[binary]==3.3.9" "psycopg-pool==3.3.3"
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
COPY migrations ./migrations
RUN pip install --no-deps .

RUN useradd --create-home --uid 10001 petbooth \
 && mkdir -p /data \
 && chown petbooth:petbooth /data
USER petbooth

VOLUME ["/data"]
# Healthy while the bot, logged in to Discord, has touched its heartbeat in the last 2 minutes.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["petbooth", "doctor", "--liveness", "bot"]
ENTRYPOINT ["tini", "--"]
CMD ["petbooth", "bot"]

# ---- engine: the GPU stack; the last stage, so a plain `docker build .` builds it -------
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04 AS engine
# The CUDA runtime comes from torch's own wheels; the base image brings the user-space
# driver glue that the NVIDIA container toolkit expects.

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/petbooth \
    PATH=/opt/petbooth/bin:$PATH \
    HF_HOME=/models \
    PETBOOTH_DATA_DIR=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv tini \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/petbooth

WORKDIR /app
# Dependencies first, so a code change does not reinstall torch (about 3 GB with CUDA): the
# versions the project tested, of pyproject.toml's `dependencies` and its [engine] extra.
RUN pip install "torch==2.13.0" \
 && pip install "diffusers==0.42.1" "transformers==5.25.0" "peft==0.21.2" \
        "accelerate==1.16.0" "bitsandbytes==0.50.2" "safetensors==0.8.0" \
        "huggingface_hub==2.4.0" "numpy==2.4.6" "matplotlib==3.11.2" \
        "aiosqlite==0.22.1" "Pillow==13.0.0" "pillow-heif==1.9.0" "pydantic==2.14.4" \
        "pydantic-settings==2.16.3" "discord.py==2.7.1" "obstore==0.12.1" \
        "psycopg[binary]==3.3.9" "psycopg-pool==3.3.3"
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
COPY migrations ./migrations
RUN pip install --no-deps .

RUN useradd --create-home --uid 10001 petbooth \
 && mkdir -p /data /models \
 && chown petbooth:petbooth /data /models
USER petbooth

VOLUME ["/data", "/models"]
# Healthy while some engine has sent a heartbeat in the last 2 minutes.
HEALTHCHECK --interval=60s --timeout=10s --start-period=300s --retries=3 \
    CMD ["petbooth", "doctor", "--liveness"]
ENTRYPOINT ["tini", "--"]
# The engines alone: the bot runs in its own container (compose.yaml). `petbooth run` (no
# --no-bot) in this image runs everything in one container, as on a single machine.
CMD ["petbooth", "run", "--no-bot"]
