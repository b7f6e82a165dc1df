"""What the engine hands to `train_lora`, and what it gets back.

Torch-free on purpose: the engine builds a `TrainRequest` before anything heavy is imported.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.settings import GenerationDefaults, TrainingDefaults

if TYPE_CHECKING:
    from engine.training.plan import TrainingPlan


@dataclass(frozen=True)
class TrainRequest:
    job_dir: Path  # checkpoints/, previews/ and lora/ of this job live under it
    photo_paths: list[Path]  # normalised JPEGs, already validated by intake
    token: str  # rare-token identifier bound to the subject, e.g. "sks"
    class_noun: str  # "cat": the class prior the token leans on
    config: TrainingDefaults  # resolved hyperparameters for this job
    base_model: str  # hub id or local directory, passed to load_pipeline
    vae: str | None  # replacement VAE (fp16-fix), or None for the base model's own
    device: str  # "auto" | "cpu" | "cuda" | "cuda:1"
    priors_dir: Path  # shared class-image cache root
    # /imagine's sampling: previews and class images are drawn exactly the same way.
    generation: GenerationDefaults = field(default_factory=GenerationDefaults)
    gpu_memory_gib: float | None = None  # the engine's budget (Settings); None: what is free
    # A growth that continues (/grow mode:continue): the LoRA file the adapter starts from.
    init_lora: Path | None = None

    @property
    def preview_steps(self) -> int:
        return self.config.preview_steps or self.generation.steps

    @property
    def instance_prompt(self) -> str:
        return f"a photo of {self.token} {self.class_noun}"

    @property
    def class_prompt(self) -> str:
        return f"a photo of {self.class_noun}"

    def validation_prompts(self) -> list[str]:
        return [
            prompt.format(token=self.token, cls=self.class_noun)
            for prompt in self.config.validation_prompts
        ]

    def class_noun_prompts(self) -> list[str]:
        """The validation prompts as the base model understands them, for CLIP-T: the class
        noun in place of the token ("a photo of {token} {cls}" -> "a photo of cat")."""
        cls = self.class_noun
        return [
            prompt.replace("{token} {cls}", "{cls}").format(token=cls, cls=cls)
            for prompt in self.config.validation_prompts
        ]


@dataclass(frozen=True)
class TrainResult:
    lora_dir: Path  # holds pytorch_lora_weights.safetensors and petbooth.json
    steps: int  # optimizer steps the LoRA has been trained for, in all runs together
    resumed_from: int | None  # checkpoint step this run started from, None if from scratch
    final_loss: float


class TrainingInterrupted(Exception):
    """`should_stop` asked to stop; a checkpoint at `step` was saved first."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training stopped at step {step}; a checkpoint was saved")
        self.step = step


class TrainingOutOfMemory(RuntimeError):
    """A training step ran out of GPU memory with the smallest plan the settings allow."""

    def __init__(self) -> None:
        super().__init__(
            "Training ran out of GPU memory, even after the engine lowered its memory use "
            "as far as its settings allow. An admin must free GPU memory (or unset "
            "PETBOOTH_TRAINING__MICRO_BATCH and PETBOOTH_TRAINING__GRADIENT_CHECKPOINTING); "
            "then /train again."
        )


class InvalidTrainRequest(ValueError):
    """Every problem with a request, found at once (so one retry fixes them all)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class TrainingHooks(Protocol):
    """Called on the training thread, in this order after every optimizer step."""

    def on_plan(self, plan: TrainingPlan) -> None:
        """The memory plan, before the first step and after every step-down."""

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        """Every optimizer step (1-based); the caller throttles what it forwards."""

    def between_steps(self) -> None:
        """A slot to serve queued image generation on the resident weights."""

    def on_checkpoint(self, step: int, path: Path) -> None: ...

    def on_preview(self, step: int, image_path: Path) -> None: ...

    def should_stop(self) -> bool:
        """True: save a checkpoint at this step, then raise TrainingInterrupted."""


class NullHooks:
    """Hooks that do nothing and never stop."""

    def on_plan(self, plan: TrainingPlan) -> None:
        pass

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        pass

    def between_steps(self) -> None:
        pass

    def on_checkpoint(self, step: int, path: Path) -> None:
        pass

    def on_preview(self, step: int, image_path: Path) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def request_problems(request: TrainRequest) -> list[str]:
    """Everything wrong with `request`, in words; empty when it can be trained."""
    problems = []
    if not request.photo_paths:
        problems.append("no photos to train on")
    missing = [path for path in request.photo_paths if not path.is_file()]
    problems += [f"photo {path} does not exist" for path in missing]
    if not request.token or any(c.isspace() for c in request.token):
        problems.append(f"token {request.token!r} must be one word")
    if not request.class_noun.strip():
        problems.append("class noun is empty")
    for prompt in request.config.validation_prompts:
        fields = {name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None}
        if not fields <= {"token", "cls"}:
            problems.append(f"validation prompt {prompt!r} may only use {{token}} and {{cls}}")
    if request.config.resolution % 8:
        problems.append(f"resolution {request.config.resolution} is not a multiple of 8")
    return problems
