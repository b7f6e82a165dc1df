"""One typed settings object for every petbooth process.

Values come from the environment (prefix ``PETBOOTH_``) or a ``.env`` file in the working
directory. Every default says why it is what it is; training defaults are the seed write-up's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def is_postgres_url(target: object) -> bool:
    """PETBOOTH_DATABASE is a ``postgresql://`` (or ``postgres://``) URL, not a SQLite file."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


# What every command that needs the bot's token says when it is not set.
MISSING_TOKEN = """\
The Discord bot token is not set.

Create one: https://discord.com/developers/applications -> New Application -> Bot ->
Reset Token, copy it, then put it in a .env file next to where you start petbooth:

    PETBOOTH_DISCORD_TOKEN=<your token>

(or export PETBOOTH_DISCORD_TOKEN in the environment). Invite the bot with the
"bot" and "applications.commands" scopes, then run `petbooth bot --sync-commands` once.
"""

# The seed's validation prompts, with {token} and {cls} filled per subject.
DEFAULT_VALIDATION_PROMPTS = (
    "a photo of {token} {cls}",
    "a photo of {token} {cls} on a skateboard",
    "a photo of {token} {cls} wearing a chef hat and an apron, baking a cake",
    "a photo of {token} {cls} in the grass surrounded by yellow ducklings",
)


class TrainingDefaults(BaseModel):
    """DreamBooth-LoRA hyperparameters. Defaults are the seed write-up's (its `accelerate
    launch` command without prior preservation), except where a comment says otherwise."""

    # The seed trained at 1024, SDXL's native size. Unless set, the base model's own native
    # size is used (Settings reads it from the model's config: the tiny test model's is 64).
    resolution: int = Field(1024, ge=64, le=2048)
    steps: int = Field(500, ge=1, le=20_000)  # seed: 500 (it found 500-1000 best for pets)
    # Samples per optimizer step. The seed ran batch 1 x gradient accumulation 4: 500 steps
    # x 4 = 2,000 samples, about 130 looks at each of 15 photos. What it tuned is that
    # amount, not the step count alone (batch 1 x 1 would be a quarter of the training).
    effective_batch: int = Field(4, ge=1, le=64)
    # How the engine splits it: "auto" = on CUDA the fastest split that fits the memory
    # budget (`engine.training.plan`: fewest UNet passes), on the CPU 1 (then accumulation).
    # Every sample draws its photo, noise and timestep from a generator seeded with
    # (seed, step, sample), so any split trains the same LoRA (to float rounding).
    micro_batch: Literal["auto"] | int = "auto"
    learning_rate: float = Field(1e-4, gt=0, le=1e-2)  # seed: 1e-4 constant, no warmup
    rank: int = Field(4, ge=1, le=256)  # diffusers' DreamBooth-LoRA SDXL script default
    snr_gamma: float | None = Field(5.0, gt=0)  # seed: Min-SNR weighting, gamma 5
    checkpoint_every: int = Field(100, ge=1)  # seed: checkpointing_steps=100
    keep_checkpoints: int = Field(3, ge=1)  # enough to pick an earlier step from previews
    seed: int = 0  # seed: --seed=0
    prior_preservation: bool = False  # seed: train without it first (less memory, faster)
    prior_loss_weight: float = Field(1.0, ge=0)  # seed: prior_loss_weight=1.0
    num_class_images: int = Field(100, ge=1, le=2000)  # seed: num_class_images=100
    max_grad_norm: float = Field(1.0, gt=0)  # diffusers script default
    # Regional compilation: torch.compile each of the UNet's transformer blocks (diffusers'
    # `compile_repeated_blocks`) before training. Off until a GPU day measures it: the H200
    # showed a step bound by per-pass overhead (BENCHMARKS.md), which compiling may cut, at
    # the cost of compiling at every training's start. The resident UNet keeps the compiled
    # blocks, so /imagine runs them too.
    compile_blocks: bool = False
    # Previews and class images are drawn exactly as /imagine draws (its scheduler, guidance
    # and step count), so the step a user picks from the previews looks like /imagine then.
    # None: /imagine's step count; tests set a small number to stay fast.
    preview_steps: int | None = Field(None, ge=1, le=150)
    validation_prompts: tuple[str, ...] = DEFAULT_VALIDATION_PROMPTS
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"  # auto: bf16 on CUDA
    # auto: off when the memory budget holds the micro-batch without it (34 % faster at
    # 1024 px, BENCHMARKS.md), on when it does not; off on the CPU, where memory is ample.
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    use_8bit_adam: Literal["auto", "on", "off"] = "auto"  # auto: bitsandbytes AdamW8bit on CUDA

    @model_validator(mode="after")
    def _micro_batch_divides(self) -> TrainingDefaults:
        if self.micro_batch != "auto" and (
            self.micro_batch < 1 or self.effective_batch % self.micro_batch
        ):
            raise ValueError(
                f"micro_batch ({self.micro_batch}) must divide effective_batch "
                f"({self.effective_batch})"
            )
        return self


class GenerationDefaults(BaseModel):
    """/imagine defaults. The seed needed 80-100 steps with SDXL's default Euler scheduler;
    DPM-Solver++ (2M, Karras sigmas) converges in about a third of that."""

    steps: int = Field(30, ge=1, le=100)  # DPM-Solver++ 2M Karras: 25-30 is converged
    guidance_scale: float = Field(5.0, ge=0, le=30)  # SDXL base's recommended 5-7
    # "square"; other aspects keep the area. Unless set, the base model's native size: a
    # larger default would only be slower and worse (SDXL was trained at 1024).
    resolution: int = Field(1024, ge=64, le=2048)
    max_count: int = Field(4, ge=1, le=8)  # images per request
    max_prompt_chars: int = Field(1000, ge=10)  # Discord's option cap is 6000; 1000 is plenty
    max_prompt_chunks: int = Field(3, ge=1, le=8)  # 75-token chunks encoded; rest reported cut
    lora_cache_size: int = Field(8, ge=1)  # recently used LoRAs kept in memory (~10 MB each)
    # The rank of the resident UNet's two LoRA slots (the second holds a second pet): every
    # subject's LoRA is copied into one, zero-padded. 32 covers /train's rank 4 with room for
    # rank overrides; on SDXL's attention projections a slot holds 1.45e6 parameters per
    # rank: 93 MB at rank 32 in bf16 (computed), 186 MB for both.
    lora_slot_rank: int = Field(32, ge=1, le=256)
    # torch.compile the UNet for sampling: minutes of compiling (115 s on an H200), done by
    # an idle engine's warm-up for a square pet picture (a job waiting at start, another
    # size or two pets compile at their first picture), then faster steps; swaps copy
    # weights in place, so switching pets never recompiles.
    compile: bool = False
    # Draw with the pets' LoRAs added into the UNet's weights (engine/generation/fused_lora.py)
    # rather than run beside them: no LoRA kernels per step, for 1.9 GB more VRAM at rest on
    # SDXL in bf16. Off until a GPU day measures it against the slots (bench/generate_speed.py
    # --fuse-lora); a picture served mid-training draws with the slots either way.
    fuse_lora: bool = False
    # The resident UNet in channels-last memory format: /imagine at 1024 px took 2.21 s
    # instead of 2.82 s on an H200 (BENCHMARKS.md). "auto": on for CUDA; the CPU gains nothing.
    # Trainings share the UNet, so they run in it too (their speed there is measured by
    # bench/plan_speed.py's channels-last rows).
    channels_last: Literal["auto", "on", "off"] = "auto"
    # Vary and Upscale redraw a delivered picture img2img: the strength is the share of the
    # denoising schedule redone from it (0 keeps it, 1 ignores it). At 30 steps, subtle
    # redoes the last 10 (fur, light and background detail change; pose and framing stay)
    # and strong the last 21 (colours and rough layout stay, the rest is drawn anew).
    vary_subtle_strength: float = Field(0.35, gt=0, le=1)
    vary_strong_strength: float = Field(0.7, gt=0, le=1)
    # Upscale: the picture resized 2x (Lanczos), then the last 9 of 30 steps redone to draw
    # real detail at the new size. Kept low: SDXL never saw 2048 px, and a high strength
    # there repeats the pet across the canvas instead of sharpening it.
    upscale_strength: float = Field(0.3, gt=0, le=1)


class ScoringSettings(BaseModel):
    """How every checkpoint's previews are scored, and how the pet's step is recommended.
    The metrics are the DreamBooth paper's (and DreamBench's): identity is the mean cosine of
    DINO image embeddings between previews and the owner's photos, CLIP-I the same with CLIP's
    image tower, prompt fidelity (CLIP-T) the cosine between a preview and its prompt."""

    enabled: bool = True  # false: no scores, /imagine uses the final step
    # DINO ViT-S/16: the identity metric of DreamBooth and DreamBench (88 MB in fp32).
    identity_model: str = "facebook/dino-vits16"
    # CLIP ViT-B/32: the papers' CLIP-I and CLIP-T model (605 MB in fp32).
    prompt_model: str = "openai/clip-vit-base-patch32"
    # Candidates for the recommended step: CLIP-T within this of the best checkpoint's. In
    # the DreamBooth paper, DreamBooth scores CLIP-T 0.305 and Textual Inversion 0.255 (SD):
    # a drop of 0.02, under half that gap, is noise or slight overfitting worth trading for
    # likeness; a larger drop means the pet stopped following prompts (it is overfitted).
    prompt_margin: float = Field(0.02, ge=0, le=2)


class SafetySettings(BaseModel):
    """The image safety classifier every picture passes before it is posted outside
    age-restricted channels (and in DMs). A guild's admin can turn it off for that guild;
    `petbooth imagine` draws for the operator and is never checked."""

    enabled: bool = True  # false: no picture is checked anywhere, and no model is needed
    # ViT-base fine-tuned on normal vs nsfw images (Apache-2.0; 86 M parameters, 343 MB in
    # fp32, at 224 px: small beside SDXL). Any transformers image-classification model
    # works when `flag_labels` names its labels.
    model: str = "Falconsai/nsfw_image_detection"
    # A picture is withheld when its flagged labels' probabilities sum to at least this.
    # 0.5 is the two-label model's own decision; lower withholds more, and its users already
    # report false positives at 0.5 (the model's discussions), while a withheld pet picture
    # costs only a reroll, so it is not lowered by default.
    threshold: float = Field(0.5, gt=0, le=1)
    flag_labels: tuple[str, ...] = ("nsfw",)  # the model's id2label names that withhold


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PETBOOTH_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Path("./petbooth-data")
    # A SQLite file (default: <data_dir>/petbooth.sqlite3; one machine) or a PostgreSQL URL
    # ("postgresql://user:pass@host/db"): engines and bots on several machines share it.
    database: Path | str | None = None
    # Photos, checkpoints, LoRAs, previews and pictures: "" keeps them in the data dir (one
    # machine); a folder, or an object store URL ("s3://bucket/prefix") that engines on other
    # machines share: each then keeps the data dir as its local cache and uploads to it, so a
    # job reclaimed elsewhere resumes from its last uploaded checkpoint.
    storage: str = ""
    # For an S3-compatible store; unset, obstore reads AWS_ENDPOINT_URL, AWS_REGION,
    # AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY like every AWS client.
    storage_endpoint: str | None = None  # e.g. http://minio:9000 (MinIO, R2, moto)
    storage_region: str | None = None
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    # The data dir's size as a cache of that store, in GiB (0: no limit): the bot hourly and
    # each engine between jobs delete the least recently used files the store also holds,
    # never one used in the last hour. 20: fits a modest disk beside the models (the HF cache
    # holds SDXL's ~7 GB elsewhere). Unused when the data dir is the store.
    storage_cache_limit_gib: float = Field(20.0, ge=0)
    base_model: str = "stabilityai/stable-diffusion-xl-base-1.0"  # hub id or local directory
    # fp16-fix VAE: SDXL's own VAE overflows to NaN in fp16; set to "" to use the base model's.
    vae: str = "madebyollin/sdxl-vae-fp16-fix"
    device: str = "auto"  # "auto" (cuda if available), "cuda", "cuda:1", "cpu"
    # GPU memory the engine may use, in GiB; the training plan (micro-batch, gradient
    # checkpointing, VAE tiling, where the encoders stay) is chosen to fit it. None: what the
    # device has free when a training starts (with what the engine already holds), less 10 %.
    gpu_memory_gib: float | None = Field(None, gt=0)
    # Discord (the bot). The token is a secret: no default, the bot refuses to start without it.
    discord_token: SecretStr | None = None
    discord_dev_guild_id: int | None = None  # sync commands to this guild only (instant)
    discord_admin_role: str | None = None  # role name that may see and cancel every job
    delivery_poll_seconds: float = Field(1.0, gt=0)  # outbox poll; events are seconds apart
    # A bot process claims the outbox events it delivers for this long, renewed at every poll
    # and before every Discord call: a killed bot's events wait this long for another one.
    delivery_claim_seconds: float = Field(30.0, gt=0)
    # What one message may carry: Discord's 10 MiB for a server without boosts. /export
    # uses the limit Discord sends with the command instead (a boosted server's is larger).
    discord_upload_limit_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    # Sharding: Discord requires it past 2,500 guilds. Unset, one connection. With
    # discord_auto_shard, this process holds every shard (discord.py's AutoShardedClient;
    # Discord's recommended count unless discord_shard_count says). Across several bot
    # processes, every one gets the same discord_shard_count and its own discord_shard_ids
    # (e.g. count 4: one process "[0,1]", another "[2,3]"); each delivers only its guilds'
    # results.
    discord_auto_shard: bool = False
    discord_shard_count: int | None = Field(None, ge=1)
    discord_shard_ids: tuple[int, ...] | None = None

    # Queue
    lease_seconds: float = Field(60.0, gt=1)  # an engine silent this long is presumed dead
    heartbeat_seconds: float = Field(10.0, gt=0)  # extend the lease 6x per lease period
    max_attempts: int = Field(3, ge=1)  # a job that kills its engine 3 times is failed
    progress_every_seconds: float = Field(5.0, ge=0)  # Discord edits are rate limited
    max_active_trainings_per_user: int = Field(1, ge=1)  # one GPU: one training each at a time
    max_queued_generations_per_user: int = Field(4, ge=1)  # keeps one user from flooding
    poll_seconds: float = Field(1.0, gt=0)  # idle engine's queue poll; claims are cheap

    # Photo intake (the seed recommends 10-15 photos; fewer than 10 is allowed with a warning)
    min_photos: int = Field(5, ge=1)
    max_photos: int = Field(20, ge=1)
    recommended_min_photos: int = Field(10, ge=1)
    min_photo_side: int = Field(512, ge=16)  # below this SDXL learns blur and JPEG artefacts
    max_file_bytes: int = Field(25 * 1024 * 1024, ge=1024)  # Discord's free upload cap is 25 MB
    max_image_pixels: int = Field(50_000_000, ge=1)  # decompression-bomb guard (~7000x7000)
    max_zip_bytes: int = Field(200 * 1024 * 1024, ge=1024)  # uncompressed total of an archive
    max_zip_members: int = Field(100, ge=1)

    training: TrainingDefaults = TrainingDefaults()
    generation: GenerationDefaults = GenerationDefaults()
    scoring: ScoringSettings = ScoringSettings()
    safety: SafetySettings = SafetySettings()

    @model_validator(mode="after")
    def _shards_consistent(self) -> Settings:
        ids, count = self.discord_shard_ids, self.discord_shard_count
        if ids is None:
            return self
        if count is None:
            raise ValueError(
                "discord_shard_ids needs discord_shard_count (the total, in every process)"
            )
        if not ids or len(set(ids)) != len(ids) or not all(0 <= i < count for i in ids):
            raise ValueError(
                f"discord_shard_ids must be distinct shard numbers from 0 to {count - 1}, "
                f"got {list(ids)}"
            )
        return self

    @property
    def sharded(self) -> bool:
        """Whether the bot runs discord.py's AutoShardedClient (any shard setting given)."""
        return (
            self.discord_auto_shard
            or self.discord_shard_count is not None
            or self.discord_shard_ids is not None
        )

    @model_validator(mode="after")
    def _check_ranges(self) -> Settings:
        if self.min_photos > self.max_photos:
            raise ValueError(
                f"PETBOOTH_MIN_PHOTOS ({self.min_photos}) exceeds "
                f"PETBOOTH_MAX_PHOTOS ({self.max_photos})"
            )
        return self

    @model_validator(mode="after")
    def _native_resolution(self) -> Settings:
        """Resolutions nobody set follow the base model's native size."""
        native = native_resolution(self.base_model)
        for part in (self.training, self.generation):
            if "resolution" not in part.model_fields_set:
                part.resolution = native
        return self

    @field_validator("database", mode="before")
    @classmethod
    def _database_path_or_url(cls, value: object) -> object:
        """Keep a PostgreSQL URL a string (a Path would fold its "//"); anything else is a
        SQLite file."""
        if value is None or value == "" or is_postgres_url(value):
            return value or None
        return Path(str(value))

    @property
    def database_target(self) -> Path | str:
        """What `Database.open` and `migrate` take: the SQLite file or the PostgreSQL URL."""
        if isinstance(self.database, str):
            return self.database
        return self.database_path

    @property
    def database_path(self) -> Path:
        """The SQLite file (only meaningful when PETBOOTH_DATABASE is not a URL)."""
        if isinstance(self.database, str):
            raise ValueError("PETBOOTH_DATABASE is a PostgreSQL URL, not a SQLite file")
        return self.database if self.database is not None else self.data_dir / "petbooth.sqlite3"

    def job_dir(self, job_id: int) -> Path:
        return self.data_dir / "jobs" / str(job_id)

    def output_dir(self, job_id: int) -> Path:
        """Where a generate job's pictures go."""
        return self.data_dir / "outputs" / str(job_id)

    @property
    def priors_dir(self) -> Path:
        return self.data_dir / "priors"

    @property
    def bot_heartbeat_path(self) -> Path:
        """Touched by the bot while it is connected; the bot container's healthcheck."""
        return self.data_dir / "bot.heartbeat"

    def data_relative(self, path: Path) -> str:
        """How rows and events name a file: relative to the data dir, so it can move."""
        return str(path.resolve().relative_to(self.data_dir.resolve()))

    @property
    def has_discord_token(self) -> bool:
        """A token is set and is not blank (a `.env` line `PETBOOTH_DISCORD_TOKEN=` is blank)."""
        token = self.discord_token
        return token is not None and bool(token.get_secret_value().strip())


SDXL_NATIVE = 1024


def native_resolution(base_model: str) -> int:
    """The image size a base model was trained at, read from its configs without loading it:
    the UNet's latent `sample_size` times the VAE's downsampling (2 per block after the
    first). A hub id not on disk is taken to be SDXL-sized (1024)."""
    directory = Path(base_model)
    try:
        unet = json.loads((directory / "unet" / "config.json").read_text())
        vae = json.loads((directory / "vae" / "config.json").read_text())
        size = int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return SDXL_NATIVE
    return size if 64 <= size <= 2048 else SDXL_NATIVE
