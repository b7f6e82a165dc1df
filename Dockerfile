# petbooth: the bot and one engine per GPU, supervised by `petbooth run`.
# Build: docker compose build    Run: docker compose up -d    (see README "Docker")
# The CUDA runtime comes from torch's own wheels; the base image brings the user-space
# driver glue that the NVIDIA container toolkit expects.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

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
# Dependencies first, so a code change does not reinstall torch (about 3 GB with CUDA).
COPY pyproject.toml README.md ./
RUN pip install "torch==2.13.0" \
 && pip install "diffusers==0.42.1" "transformers==5.24.0" "peft==0.21.2" \
        "accelerate==1.15.0" "bitsandbytes==0.50.2" "aiosqlite==0.22.1" "Pillow==13.0.0" \
        "pydantic-settings==2.16.3" "discord.py==2.7.1" "safetensors==0.8.0"
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
CMD ["petbooth", "run"]
