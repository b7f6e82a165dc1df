"""DreamBooth-LoRA training of SDXL on a few photos of one pet.

Imports torch, diffusers and peft: only the engine process imports this package; the bot
and the store never do.
"""

from engine.training.checkpoints import latest_checkpoint
from engine.training.loop import train_lora
from engine.training.request import (
    InvalidTrainRequest,
    NullHooks,
    TrainingHooks,
    TrainingInterrupted,
    TrainRequest,
    TrainResult,
)

__all__ = [
    "InvalidTrainRequest",
    "NullHooks",
    "TrainRequest",
    "TrainResult",
    "TrainingHooks",
    "TrainingInterrupted",
    "latest_checkpoint",
    "train_lora",
]
