"""Events into message text, files and buttons. No Discord calls here."""

from __future__ import annotations

from pathlib import Path

import discord

from bot.delivery._target import Outgoing
from bot.imagine.buttons import generation_view
from bot.train.buttons import preview_view
from bot.utils.format import clip, plain, progress_bar, safe
from bot.utils.paths import fetched_file
from engine.orders.checkpoint_choice import StepInUse
from engine.orders.status import duration
from engine.storage import Storage
from engine.store import Event, EventKind, Job, JobKind, Subject

MAX_FILES = 10  # Discord's attachments per message


def pet_name(job: Job, subject: Subject | None) -> str:
    return f"**{safe(subject.name)}**" if subject else f"Job {job.id}"


def progress_text(job: Job, subject: Subject | None, event: Event) -> str:
    name, payload = pet_name(job, subject), event.payload
    if event.kind is EventKind.STARTED:
        return f"{name}: training started (job {job.id}). Progress shows here."
    if event.kind is EventKind.RETRYING:
        return (
            f"{name}: the engine restarted; training resumes from step "
            f"{payload.get('step', 0)} (job {job.id}, attempt {payload.get('attempt', '?')})."
        )
    step, total = int(payload.get("step", 0)), int(payload.get("total", job.total_steps))
    loss = payload.get("loss")
    loss_text = f", loss {loss:.4f}" if isinstance(loss, int | float) else ""
    return (
        f"{name}: training {progress_bar(step, total)} step {step}/{total}{loss_text}, "
        f"about {duration(payload.get('eta_seconds'))} left (job {job.id})"
    )


def attachable(storage: Storage, relatives: list[str], limit_bytes: int) -> tuple[list[Path], int]:
    """The event's files that are in storage (fetched into the local cache) and fit one
    upload together; returns them and how many were left out. Blocking: run it on a thread."""
    found = [p for p in (fetched_file(storage, r) for r in relatives) if p is not None]
    chosen: list[Path] = []
    used = 0
    for path in found[:MAX_FILES]:
        size = path.stat().st_size
        if used + size <= limit_bytes:
            chosen.append(path)
            used += size
    return chosen, len(relatives) - len(chosen)


def _with_files(
    content: str, paths: list[Path], view: discord.ui.View | None = None, ping: int | None = None
) -> Outgoing:
    return Outgoing(
        clip(content), lambda: [discord.File(p, filename=p.name) for p in paths], view, ping
    )


def scores_text(scores: object) -> str:
    """ "likeness 0.62 · prompt 0.29" from an event's scores; "" when there are none."""
    if not isinstance(scores, dict):
        return ""
    parts = [
        f"{label} {value:.2f}"
        for label, value in (
            ("likeness", scores.get("identity")),
            ("prompt", scores.get("clip_text")),
        )
        if isinstance(value, int | float)
    ]
    return " · ".join(parts)


def model_text(payload: dict[str, object]) -> str:
    """Which step a ready pet's pictures use and why, from its done event."""
    in_use = payload.get("step_in_use")
    step = in_use.get("step") if isinstance(in_use, dict) else None
    reason = in_use.get("reason") if isinstance(in_use, dict) else None
    if isinstance(step, int) and reason == "picked":
        return StepInUse(step, "picked").describe()
    if isinstance(step, int) and reason == "recommended":
        return StepInUse(step, "recommended").describe()
    return StepInUse(None, "final").describe()


def preview(job: Job, subject: Subject | None, event: Event, paths: list[Path]) -> Outgoing:
    step = int(event.payload.get("step", 0))
    content = f"{pet_name(job, subject)} at step {step}/{job.total_steps}."
    scored = scores_text(event.payload.get("scores"))
    if scored:
        content += f" Scores: {scored}."
    view = None
    if subject is not None:
        content += " If this looks more like your pet than later previews, press the button"
        # scored previews: unless the owner presses one, the engine recommends a step
        content += "; otherwise the best-scoring step is used." if scored else "."
        view = preview_view(subject.id, step)
    return _with_files(content, paths, view)


def ready(job: Job, subject: Subject | None, event: Event, paths: list[Path]) -> Outgoing:
    payload = event.payload
    name = safe(str(payload.get("subject") or (subject.name if subject else job.id)))
    example = str(payload.get("example") or "/imagine prompt: a photo of TOK")
    scored = scores_text(payload.get("scores"))
    content = (
        f"<@{job.owner_id}> **{name}** is ready after {payload.get('steps', '?')} steps "
        f"(job {job.id})! Model in use: {model_text(payload)}"
        + (f" ({scored})" if scored else "")
        + f". Try:\n`{example} subject: {name}`\n`TOK` stands for {name} in any prompt."
    )
    return _with_files(content, paths, ping=job.owner_id)


def pictures(
    job: Job, subject: Subject | None, event: Event, paths: list[Path], missing: int
) -> Outgoing:
    payload = event.payload
    prompt = str(payload.get("prompt") or job.params.get("raw_prompt", ""))
    parts = [
        f"<@{job.owner_id}> {pet_name(job, subject)}: {safe(plain(prompt, 300))}",
        f"seed {payload.get('seed', job.params.get('seed'))}",
    ]
    lora_scale = payload.get("lora_scale")
    if isinstance(lora_scale, int | float) and lora_scale != 1:
        parts.append(f"lora scale {lora_scale:g}")
    if payload.get("truncated"):
        parts.append("(the prompt was too long; its end was ignored)")
    if missing:
        parts.append(f"({missing} picture(s) too large to attach)")
    return _with_files(" · ".join(parts), paths, generation_view(job.id), ping=job.owner_id)


def failed(job: Job, subject: Subject | None, event: Event) -> Outgoing:
    error = safe(str(event.payload.get("error") or job.error or "unknown error"))[:1500]
    if job.kind is JobKind.TRAIN:
        what, hint = "training", "Your photos are kept: /forget it and /train again to retry."
    else:
        what, hint = "pictures", "Try /imagine again."
    return Outgoing(
        clip(
            f"<@{job.owner_id}> {pet_name(job, subject)}: {what} failed "
            f"(job {job.id}): {error}\n{hint}"
        ),
        ping=job.owner_id,
    )


def cancelled(job: Job, subject: Subject | None) -> Outgoing:
    return Outgoing(f"{pet_name(job, subject)}: job {job.id} was cancelled.")
