"""Which checkpoint step a pet's pictures come from, and why (torch-free: the bot says it).

The engine recommends a step from the scores when a training succeeds (``recommend_step``);
the owner may pick another with a preview's button; /imagine, /status and the ready message
all read the choice through ``step_in_use``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.store import CheckpointScore, Subject


def recommend_step(
    scores: Sequence[CheckpointScore], choosable: Collection[int], margin: float
) -> int | None:
    """The recommended checkpoint: among the choosable scored steps, those whose prompt
    fidelity (CLIP-T) is within ``margin`` of the best CLIP-T among them are candidates; the
    candidate with the highest identity (DINO) wins, and a tie goes to the earlier step.
    None when no choosable step has scores.

    Identity alone would pick the most overfitted step (it copies the photos, ignoring the
    prompt); prompt fidelity alone would pick the least trained one ("any cat").
    """
    scored = [s for s in scores if s.step in choosable]
    if not scored:
        return None
    best_prompt = max(s.clip_text for s in scored)
    candidates = [s for s in scored if s.clip_text >= best_prompt - margin]
    return min(candidates, key=lambda s: (-s.identity, s.step)).step


Reason = Literal["picked", "recommended", "final"]


@dataclass(frozen=True)
class StepInUse:
    step: int | None  # None: the final model (subjects.lora_path)
    reason: Reason

    def describe(self) -> str:
        """ "step 300, recommended: best likeness", "step 200, your pick", "final step"."""
        if self.reason == "picked":
            return f"step {self.step}, your pick"
        if self.reason == "recommended":
            return f"step {self.step}, recommended: best likeness"
        return "final step"


def step_in_use(subject: Subject) -> StepInUse:
    """The owner's pick wins over the engine's recommendation; neither: the final step."""
    if subject.chosen_step is not None:
        return StepInUse(subject.chosen_step, "picked")
    if subject.recommended_step is not None:
        return StepInUse(subject.recommended_step, "recommended")
    return StepInUse(None, "final")
