"""Queue an /imagine request (torch-free): pick the subject, put its token in the prompt,
check the limits, and enqueue a ``generate`` job with every parameter fixed (the seed too,
so "same seed" and "reroll" are exact)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.intake import sanitize_display_name
from engine.orders.guild_rules import pictures_refusal
from engine.orders.not_ready import not_ready_reason
from engine.orders.pet_names import normalise_name
from engine.orders.pet_tokens import TOK, TOK1, put_token, put_tokens, two_pet_problem
from engine.orders.safety_check import needs_safety_check
from engine.orders.styles import STYLES, styled
from engine.settings import Settings
from engine.store import Database, JobKind, JobState, Subject, SubjectStatus, jobs, subjects

if TYPE_CHECKING:
    from engine.orders.variations import VariationOf

# SDXL's native sizes (width, height) at 1024; scaled for other base resolutions.
ASPECTS = {
    "square": (1024, 1024),
    "portrait": (896, 1152),
    "landscape": (1152, 896),
    "tall": (768, 1344),
    "wide": (1344, 768),
}
MAX_SEED = 2**32 - 1
# 1 is the LoRA as trained; above it the weights are extrapolated past what training found,
# so the ceiling stays close: enough to strengthen an under-fitted pet.
MAX_LORA_SCALE = 1.5
_TRAINING_STATES = (SubjectStatus.PENDING, SubjectStatus.TRAINING)


class ImagineRefused(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class ImagineOrder:
    """What a user asks for with /imagine, a picture's button or `petbooth imagine`, before
    any check. The engine draws a ``GenerateRequest`` made from the queued job's params."""

    owner_id: int
    prompt: str
    subject_name: str | None = None
    with_pet: str | None = None  # a second pet in the same picture (TOK2), drawn with it
    negative_prompt: str | None = None
    count: int = 1
    seed: int | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    aspect: str = "square"
    checkpoint_step: int | None = None  # default: the subject's chosen (or final) LoRA
    lora_scale: float = 1.0  # how strongly the pet's LoRA applies: 0 none, 1 as trained
    style: str | None = None  # one of STYLES: words added to the prompt and negative prompt
    guild_id: int | None = None
    channel_id: int | None = None
    out_dir: str | None = None  # `petbooth imagine --out`: the engine copies the PNGs there
    variation_of: VariationOf | None = None  # Vary / Upscale: redrawn from a delivered picture
    # The channel is age-restricted (threads: their parent): its pictures skip the safety
    # filter. False unless the bot says so, so an entry point that forgets it is checked.
    age_restricted: bool = False

    def problems(self, settings: Settings) -> list[str]:
        """Every problem with the order's fields, collected at once."""
        gen = settings.generation
        problems = []
        prompt = self.prompt.strip()
        if not prompt:
            problems.append("The prompt is empty: describe the picture, e.g. `TOK cat on a beach`.")
        elif len(prompt) > gen.max_prompt_chars:
            problems.append(
                f"The prompt is {len(prompt)} characters; the limit is {gen.max_prompt_chars}."
            )
        if self.negative_prompt and len(self.negative_prompt) > gen.max_prompt_chars:
            problems.append(f"The negative prompt is over {gen.max_prompt_chars} characters.")
        if not 1 <= self.count <= gen.max_count:
            problems.append(f"Count must be between 1 and {gen.max_count}.")
        if self.steps is not None and not 1 <= self.steps <= 100:
            problems.append("Steps must be between 1 and 100.")
        if self.guidance_scale is not None and not 0 <= self.guidance_scale <= 30:
            problems.append("Guidance must be between 0 and 30.")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            problems.append(f"Seed must be between 0 and {MAX_SEED}.")
        if not 0 <= self.lora_scale <= MAX_LORA_SCALE:  # NaN fails this too
            problems.append(
                f"LoRA scale must be between 0 and {MAX_LORA_SCALE}: 1 is normal, lower "
                "(e.g. 0.7) if pictures look overcooked, higher if they look little like your pet."
            )
        if self.aspect not in ASPECTS:
            problems.append(f"Aspect must be one of: {', '.join(ASPECTS)}.")
        if self.style is not None and self.style not in STYLES:
            problems.append(f"Style must be one of: {', '.join(STYLES)}.")
        two_pets = two_pet_problem(prompt, self.with_pet is not None)
        if two_pets:
            problems.append(two_pets)
        return problems


@dataclass(frozen=True)
class ImagineQueued:
    job_id: int
    subject: Subject | None
    params: dict[str, Any]
    second: Subject | None = None  # the order's `with_pet`


def size_for(aspect: str, resolution: int) -> tuple[int, int]:
    width, height = ASPECTS[aspect]
    scale = resolution / 1024
    return _multiple_of_8(width * scale), _multiple_of_8(height * scale)


def _multiple_of_8(value: float) -> int:
    return max(8, round(value / 8) * 8)


async def pick_subject(db: Database, settings: Settings, order: ImagineOrder) -> Subject | None:
    """The pet named in the order, else the owner's latest ready one (None: plain SDXL). A
    pet that cannot draw yet is refused with what its training is doing."""
    if order.subject_name:
        return await _ready_pet(db, settings, order.owner_id, order.subject_name)
    subject = await subjects.latest_ready(db, order.owner_id)
    if subject is None and (TOK.search(order.prompt) or TOK1.search(order.prompt)):
        mine = await subjects.list_for_owner(db, order.owner_id)  # none is ready
        waiting = [s for s in mine if s.status in _TRAINING_STATES]
        if mine:  # right after /train: the pet that is still training, named as such
            raise ImagineRefused([await not_ready_reason(db, settings, (waiting or mine)[-1])])
        raise ImagineRefused(
            ["Your prompt uses TOK, but you have no trained pet yet. Start with /train."]
        )
    return subject


async def _ready_pet(db: Database, settings: Settings, owner_id: int, name: str) -> Subject:
    subject = await subjects.by_name(db, owner_id, normalise_name(name))
    if subject is None:
        shown = sanitize_display_name(name)[:40]
        raise ImagineRefused([f"You have no pet named '{shown}'. /status lists yours."])
    if subject.status is not SubjectStatus.READY:
        raise ImagineRefused([await not_ready_reason(db, settings, subject)])
    return subject


async def pick_pets(
    db: Database, settings: Settings, order: ImagineOrder
) -> tuple[Subject | None, Subject | None]:
    """The order's pet and its `with_pet` (None: one pet). Two pets are the owner's, ready
    and different; an unnamed first pet is the latest ready one that is not the second."""
    if order.with_pet is None:
        return await pick_subject(db, settings, order), None
    second = await _ready_pet(db, settings, order.owner_id, order.with_pet)
    if order.subject_name:
        first = await _ready_pet(db, settings, order.owner_id, order.subject_name)
    else:
        mine = await subjects.list_for_owner(db, order.owner_id)
        others = [s for s in mine if s.status is SubjectStatus.READY and s.id != second.id]
        if not others:
            raise ImagineRefused(
                [f"{second.name} is your only ready pet: a picture of two needs another one."]
            )
        first = max(others, key=lambda s: (s.updated_at, s.id))  # as `latest_ready` orders
    if first.id == second.id:
        raise ImagineRefused(
            [f"{first.name} is already the first pet: pick a different pet for `with_pet`."]
        )
    return first, second


def _prompt_with_pets(prompt: str, first: Subject | None, second: Subject | None) -> str:
    if first is None:
        return prompt
    return put_tokens(prompt, first, second) if second else put_token(prompt, first)


async def enqueue_imagine(db: Database, settings: Settings, order: ImagineOrder) -> ImagineQueued:
    problems = order.problems(settings)
    if problems:
        raise ImagineRefused(problems)
    subject, second = await pick_pets(db, settings, order)
    gen = settings.generation
    width, height = size_for(order.aspect, gen.resolution)
    if order.variation_of is not None:  # the picture's own size (twice it for an upscale)
        width, height = order.variation_of.width, order.variation_of.height
    prompt = order.prompt.strip()
    steps = order.steps or gen.steps
    # What the queue counts: img2img redraws only the last part of the schedule.
    steps_run = order.variation_of.steps_run(steps) if order.variation_of else steps
    drawn, negative = styled(
        _prompt_with_pets(prompt, subject, second),
        (order.negative_prompt or "").strip(),
        order.style,
    )
    params: dict[str, Any] = {
        "prompt": drawn,
        "raw_prompt": prompt,
        "negative_prompt": negative,
        "raw_negative_prompt": (order.negative_prompt or "").strip(),
        "style": order.style,
        "count": order.count,
        "seed": order.seed if order.seed is not None else secrets.randbelow(MAX_SEED + 1),
        "steps": steps,
        "guidance_scale": order.guidance_scale
        if order.guidance_scale is not None
        else gen.guidance_scale,
        "width": width,
        "height": height,
        "aspect": order.aspect,
        "checkpoint_step": order.checkpoint_step,
        "lora_scale": order.lora_scale,
        "with_subject_id": second.id if second else None,  # its LoRA in the second slot
        "safety_check": await needs_safety_check(
            db, settings, order.guild_id, order.channel_id, order.age_restricted
        ),
    }
    if order.variation_of is not None:
        params.update(order.variation_of.params())
    if order.out_dir:
        params["out_dir"] = order.out_dir
    async with db.transaction() as tx:  # the count and the insert under one write lock
        await tx.lock("owner", order.owner_id)  # PostgreSQL: per owner; SQLite: already held
        await _check_waiting_limit(db, settings, order.owner_id)
        # The server's pause and daily quotas (none in DMs), under its lock on PostgreSQL.
        refusal = await pictures_refusal(tx, order.guild_id, order.owner_id, order.count)
        if refusal is not None:
            raise ImagineRefused([refusal])
        job_id = await jobs.enqueue_tx(
            tx,
            JobKind.GENERATE,
            owner_id=order.owner_id,
            params=params,
            subject_id=subject.id if subject else None,
            guild_id=order.guild_id,
            channel_id=order.channel_id,
            total_steps=steps_run,
            max_attempts=settings.max_attempts,
        )
    return ImagineQueued(job_id, subject, params, second)


async def _check_waiting_limit(db: Database, settings: Settings, owner_id: int) -> None:
    active = await jobs.list_jobs(db, owner_id=owner_id, states=[JobState.QUEUED, JobState.RUNNING])
    waiting = sum(1 for j in active if j.kind is JobKind.GENERATE)
    if waiting >= settings.max_queued_generations_per_user:
        raise ImagineRefused(
            [
                f"You already have {waiting} pictures waiting; the limit is "
                f"{settings.max_queued_generations_per_user}. Wait for them to arrive."
            ]
        )
