"""Events into message text, files and buttons. No Discord calls here."""

from __future__ import annotations

from pathlib import Path

import discord

from bot.delivery._target import Outgoing
from bot.imagine.buttons import generation_view
from bot.imagine.vary_buttons import variation_items
from bot.train.buttons import preview_view
from bot.utils.format import clip, plain, progress_bar, safe
from bot.utils.paths import fetched_file
from engine.orders.checkpoint_choice import StepInUse
from engine.orders.growth import GROWTH_PARAM
from engine.orders.status import duration
from engine.orders.variations import describe_variation
from engine.storage import Storage
from engine.store import Event, EventKind, Job, JobKind, Subject

MAX_FILES = 10  # Discord's attachments per message
# A growth that did not finish (store/endings.py): the pet keeps drawing, its new photos go.
_KEEPS_OLD_MODEL = (
    "It keeps its earlier model and draws with it as before; the new photos were not kept: "
    "/grow it again with them to retry."
)


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
        view = preview_view(subject.id, step, job.id)
    return _with_files(content, paths, view)


def ready(job: Job, subject: Subject | None, event: Event, paths: list[Path]) -> Outgoing:
    payload = event.payload
    name = safe(str(payload.get("subject") or (subject.name if subject else job.id)))
    example = str(payload.get("example") or "/imagine prompt: a photo of TOK")
    scored = scores_text(payload.get("scores"))
    grew = payload.get("grew")
    grown = (
        f" grew from {grew.get('from')} to {grew.get('to')} photos and"
        if isinstance(grew, dict)
        else ""
    )
    content = (
        f"<@{job.owner_id}> **{name}**{grown} is ready after {payload.get('steps', '?')} steps "
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
    names = pet_name(job, subject)
    second = payload.get("second_subject")
    if isinstance(second, str):  # a two-pet picture
        names += f" and **{safe(second)}**"
    parts = [
        f"<@{job.owner_id}> {names}: {safe(plain(prompt, 300))}",
        f"seed {payload.get('seed', job.params.get('seed'))}",
    ]
    variation = describe_variation(job.params)
    if variation is not None:  # what it redrew, before how
        parts.insert(1, variation)
    lora_scale = payload.get("lora_scale")
    if isinstance(lora_scale, int | float) and lora_scale != 1:
        parts.append(f"lora scale {lora_scale:g}")
    if payload.get("truncated"):
        parts.append("(the prompt was too long; its end was ignored)")
    if payload.get("negative_truncated"):
        parts.append("(the negative prompt was too long; its end was ignored)")
    if missing:
        parts.append(f"({missing} picture(s) too large to attach)")
    content = " · ".join(parts) + withheld_text(job, payload)
    return _with_files(content, paths, pictures_view(job, event), ping=job.owner_id)


def pictures_view(job: Job, event: Event) -> discord.ui.View:
    """Reroll / More / Delete, and under them Vary / Upscale for each delivered picture
    (numbered as the event's files, which is how the engine finds picture N again)."""
    view = generation_view(job.id)
    # Larger than the configured resolution (an upscale, or a variation of one) is exactly
    # when twice the size would pass the 2x limit `picture_to_redraw` refuses.
    upscaled = bool(job.params.get("tiled_vae"))
    for item in variation_items(job.id, len(event.files), upscaled):
        view.add_item(item)
    return view


def withheld_text(job: Job, payload: dict[str, object]) -> str:
    """ "\n1 of 4 pictures was withheld by …": what the engine's safety filter kept back
    (the buttons stay: a reroll draws new ones); "" when it kept nothing."""
    withheld, posted = payload.get("withheld"), payload.get("images")
    if not isinstance(withheld, int) or withheld < 1:
        return ""
    total = withheld + (posted if isinstance(posted, int) else 0)
    if total == 1:
        which = "The picture was"
    elif withheld == total:
        which = f"All {total} pictures were"
    else:
        which = f"{withheld} of {total} pictures {'was' if withheld == 1 else 'were'}"
    if job.guild_id is None:
        return (
            f"\n{which} withheld by the safety filter (pictures in DMs are always checked). "
            "Try another prompt or seed."
        )
    return (
        f"\n{which} withheld by this server's safety filter (this channel is not "
        "age-restricted). Try another prompt or seed, or draw in an age-restricted channel."
    )


def failed(job: Job, subject: Subject | None, event: Event) -> Outgoing:
    error = safe(str(event.payload.get("error") or job.error or "unknown error"))[:1500]
    if job.kind is JobKind.TRAIN and GROWTH_PARAM in job.params:
        what, hint = "growing", _KEEPS_OLD_MODEL
    elif job.kind is JobKind.TRAIN:
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
    text = f"{pet_name(job, subject)}: job {job.id} was cancelled."
    if job.kind is JobKind.TRAIN and GROWTH_PARAM in job.params:
        text += f" {_KEEPS_OLD_MODEL}"
    return Outgoing(text)
