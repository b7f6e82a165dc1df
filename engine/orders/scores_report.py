"""What `petbooth eval NAME` shows: a pet's checkpoint scores, the recommended step and the
step its pictures use. Torch-free: it reads the scores the engine stored."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.orders.checkpoint_choice import recommend_step, step_in_use
from engine.orders.pet_states import pet_state
from engine.settings import Settings
from engine.store import CheckpointScore, Database, Subject, SubjectStatus, scores, subjects


class PetNotFound(LookupError):
    """str() says which pet was not found, or how to tell several apart."""


@dataclass(frozen=True)
class ScoresReport:
    subject: str
    owner_id: int
    class_noun: str
    status: str
    job_id: int | None  # the training the scores come from
    checkpoints: list[dict[str, float | int]]  # step, identity, clip_image, clip_text
    recommended_step: int | None  # a training still running: the best so far
    prompt_margin: float
    in_use: dict[str, Any]  # step, reason, text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def find_pet(db: Database, name: str, owner_id: int | None) -> Subject:
    found = [s for s in await subjects.named(db, name) if owner_id in (None, s.owner_id)]
    if not found:
        raise PetNotFound(
            f"No pet named {name!r}" + (f" of owner {owner_id}." if owner_id is not None else ".")
        )
    if len(found) > 1:
        owners = ", ".join(str(s.owner_id) for s in found)
        raise PetNotFound(f"Several pets are named {name!r} (owners {owners}): add --owner ID.")
    return found[0]


async def scores_report(db: Database, settings: Settings, subject: Subject) -> ScoresReport:
    job_id = await subjects.model_job(db, subject.id)  # a growth's scores: once it wins
    scored = await scores.for_job(db, job_id) if job_id is not None else []
    recommended = subject.recommended_step
    if subject.status is not SubjectStatus.READY:  # still training: what the rule says now
        recommended = recommend_step(
            scored, {s.step for s in scored}, settings.scoring.prompt_margin
        )
    in_use = step_in_use(subject)
    return ScoresReport(
        subject=subject.name,
        owner_id=subject.owner_id,
        class_noun=subject.class_noun,
        status=pet_state(subject.status),  # "queued", not the stored "pending"
        job_id=job_id,
        checkpoints=[_checkpoint(s) for s in scored],
        recommended_step=recommended,
        prompt_margin=settings.scoring.prompt_margin,
        in_use={"step": in_use.step, "reason": in_use.reason, "text": in_use.describe()},
    )


def _checkpoint(score: CheckpointScore) -> dict[str, float | int]:
    return {
        "step": score.step,
        "identity": score.identity,
        "clip_image": score.clip_image,
        "clip_text": score.clip_text,
    }


def format_report(report: ScoresReport) -> str:
    """A table a person reads: one line per checkpoint, the recommendation marked."""
    head = (
        f"{report.subject} ({report.class_noun}, owner {report.owner_id}): {report.status}, "
        f"training job {report.job_id}, {len(report.checkpoints)} checkpoint(s) scored"
    )
    if not report.checkpoints:
        return (
            f"{head}\nNo checkpoint has scores (scoring was off, or its models could not be "
            f"loaded: see `petbooth doctor`).\nModel in use: {report.in_use['text']}"
        )
    lines = [
        head,
        f"  {'step':>6}  {'likeness (DINO)':>15}  {'CLIP-I':>6}  {'prompt (CLIP-T)':>15}",
    ]
    for c in report.checkpoints:
        mark = "  <- recommended" if c["step"] == report.recommended_step else ""
        lines.append(
            f"  {c['step']:>6}  {c['identity']:>15.4f}  {c['clip_image']:>6.4f}  "
            f"{c['clip_text']:>15.4f}{mark}"
        )
    so_far = "" if report.status == SubjectStatus.READY.value else " so far"
    if report.recommended_step is None:
        lines.append("No step recommended (scoring was off when the training ended).")
    else:
        lines.append(
            f"Recommended{so_far}: step {report.recommended_step} (the highest likeness among "
            f"the checkpoints whose prompt fidelity is within {report.prompt_margin} of the best)."
        )
    lines.append(f"Model in use: {report.in_use['text']}")
    return "\n".join(lines)
