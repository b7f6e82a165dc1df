"""DreamBooth-LoRA training of SDXL on a few photos of one pet: `train_lora` (what it is
asked and returns: `engine.training.request`).

Imports torch, diffusers and peft: only the engine process imports this package; the bot
and the store never do.
"""

from engine.training.checkpoints import latest_checkpoint
from engine.training.loop import train_lora

__all__ = ["latest_checkpoint", "train_lora"]
