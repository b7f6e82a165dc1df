"""A tiny safety classifier for tests and offline demos: a ViT image classifier with the
default model's labels (``normal``, ``nsfw``), saved with save_pretrained so it loads
through the same `from_pretrained` path as the real one (`PETBOOTH_SAFETY__MODEL=<dir>`).

Its verdict does not depend on the picture: the classifier head's weights are zero and its
bias decides, so one build flags nothing and the other flags everything, every time.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

IMAGE_SIZE = 32  # two 16 px patches a side: milliseconds per picture
LABELS = {0: "normal", 1: "nsfw"}
_MARGIN = 10.0  # the logits are 20 apart: softmax gives the losing label 2e-9


def build_tiny_safety(directory: Path, flags_everything: bool = False) -> Path:
    """Write the classifier and its image processor to `directory`; return it."""
    config = ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=16,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        id2label=LABELS,
        label2id={name: i for i, name in LABELS.items()},
    )
    torch.manual_seed(0)
    model = ViTForImageClassification(config)
    head = model.classifier
    assert isinstance(head, torch.nn.Linear)
    normal_wins = torch.tensor([_MARGIN, -_MARGIN])
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(-normal_wins if flags_everything else normal_wins)
    model.save_pretrained(directory)
    square = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    ViTImageProcessorPil(size=square).save_pretrained(directory)
    return directory
