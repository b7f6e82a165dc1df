"""Grow a ready pet: more photos and a new training, the old model drawing until it wins
(torch-free).

The CLI and the bot both call ``grow_subject``. The new photos pass the same intake as
/train's, minus the ones the pet already has; they are written to a folder of their own
inside the pet's, and ONE transaction inserts the growth's ``train`` job and the photo rows
that name it. The pet stays ready meanwhile: its model is ``subjects.model_job_id``'s,
which only the growth's success changes (``store.endings``); a failed or cancelled growth
drops its photos again.

``continue`` starts the new LoRA from the pet's model in use and trains half the steps;
``fresh`` trains a new LoRA on every photo with the pet's original settings.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from PIL import Image

from engine.intake import (
    AcceptedPhoto,
    IntakeLimits,
    IntakeResult,
    Rejection,
    Upload,
    contact_sheet,
    frame,
    save_photos,
    validate_uploads,
)
from engine.intake.duplicates import difference_hash, is_near_duplicate
from engine.orders.checkpoint_choice import step_in_use
from engine.orders.enrolment import (
    TRAIN_OVERRIDES,
    EnrollmentRefused,
    check_active_trainings,
    discard_folder,
    photo_rows,
    resolve_config,
)
from engine.orders.guild_rules import training_refusal
from engine.orders.lora_files import LORA_WEIGHTS, job_checkpoint_weights
from engine.orders.pet_names import normalise_name
from engine.settings import Settings, TrainingDefaults
from engine.storage import Storage, open_storage
from engine.store import (
    Database,
    JobKind,
    JobState,
    Photo,
    Subject,
    SubjectStatus,
    Transaction,
    jobs,
    subjects,
)

GROWTH_PARAM = "growth"  # the job param that makes a training a growth
# Continuing starts from a LoRA that already has the pet's likeness: the new photos need
# fewer steps to be taken in, and the seed's write-up sees DreamBooth overfit past ~800
# steps in all, so half the pet's first training (250 of the default 500) is the budget.
CONTINUE_STEP_FRACTION = 0.5


class GrowthMode(StrEnum):
    CONTINUE = "continue"  # from the pet's model in use, CONTINUE_STEP_FRACTION of the steps
    FRESH = "fresh"  # a new LoRA on every photo, as many steps as the first training


@dataclass(frozen=True)
class Growth:
    """What a growth job's params say beyond its training options."""

    mode: GrowthMode
    from_job: int  # the training whose model the pet draws with until this one succeeds
    photos_before: int
    photos_after: int
    init_lora: str | None  # continue: the LoRA file it starts from, relative to the data dir
    # The steps of a full training of the pet (its first one's): what `fresh` trains and what
    # `continue` takes CONTINUE_STEP_FRACTION of, however many growths came before.
    full_steps: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Growth | None:
        raw = params.get(GROWTH_PARAM)
        if not isinstance(raw, dict):
            return None
        return cls(
            GrowthMode(raw["mode"]),
            int(raw["from_job"]),
            int(raw["photos_before"]),
            int(raw["photos_after"]),
            raw.get("init_lora"),
            int(raw["full_steps"]),
        )

    def as_param(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "from_job": self.from_job,
            "photos_before": self.photos_before,
            "photos_after": self.photos_after,
            "init_lora": self.init_lora,
            "full_steps": self.full_steps,
        }

    def announced(self) -> dict[str, Any]:
        """What the ready message says: "grew from 12 to 15 photos"."""
        return {"mode": self.mode.value, "from": self.photos_before, "to": self.photos_after}


def training_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """A training job's options, without what only a growth carries."""
    return {key: value for key, value in params.items() if key in TRAIN_OVERRIDES}


@dataclass(frozen=True)
class GrowthOrder:
    """What a user asks for with /grow (or `petbooth grow`), before any check."""

    owner_id: int
    name: str
    mode: GrowthMode = GrowthMode.CONTINUE
    guild_id: int | None = None
    channel_id: int | None = None


@dataclass(frozen=True)
class Grown:
    subject: Subject
    job_id: int
    intake: IntakeResult  # accepted: the new photos; rejected: with those it already has
    growth: Growth
    contact_sheet: Path  # every photo the growth trains on
    config: TrainingDefaults


async def grow_subject(
    db: Database, settings: Settings, order: GrowthOrder, uploads: list[Upload]
) -> Grown:
    subject = await _growable(db, order)
    await _check_limits(db, settings, order, subject)
    assert subject.model_job_id is not None
    model_job = await jobs.get(db, subject.model_job_id)
    # The first training's options (its rank, resolution, ...), so the pet grows alike.
    options = training_overrides(model_job.params) if model_job else {}
    earlier = Growth.from_params(model_job.params) if model_job else None
    if earlier is not None:  # a continued growth trained fewer: not a pet's full training
        options["steps"] = earlier.full_steps
    config = resolve_config(settings.training, options)
    full_steps = config.steps
    storage = open_storage(settings)
    if order.mode is GrowthMode.CONTINUE:
        await _check_rank(storage, subject, config.rank)
        options["steps"] = max(1, int(full_steps * CONTINUE_STEP_FRACTION))
        config = resolve_config(settings.training, options)
    existing = await subjects.photos(db, subject.id)
    room = settings.max_photos - len(existing)
    if room <= 0:
        raise EnrollmentRefused(
            [
                f"{subject.name} already has {len(existing)} photos, the most a pet can have. "
                "To use others, `/forget` it and /train it again with your best ones."
            ]
        )
    limits = replace(IntakeLimits.from_settings(settings), min_photos=1)
    intake = await asyncio.to_thread(validate_uploads, uploads, limits)
    if intake.problem is not None and not intake.accepted:
        raise EnrollmentRefused([intake.problem], intake)
    known = await asyncio.to_thread(_open_photos, settings, storage, existing)
    intake = await asyncio.to_thread(_without_known, intake, known)
    _check_count(subject, intake, len(existing), room)
    init_lora = (
        await _model_in_use_weights(settings, storage, subject)
        if order.mode is GrowthMode.CONTINUE
        else None
    )
    growth = Growth(
        order.mode,
        subject.model_job_id,
        len(existing),
        len(existing) + len(intake.accepted),
        init_lora,
        full_steps,
    )
    params = {**options, GROWTH_PARAM: growth.as_param()}
    queued = _Queued(order, subject, intake, growth, config, params)
    return await _queue(db, settings, storage, queued, [k.image for k in known])


async def _growable(db: Database, order: GrowthOrder) -> Subject:
    name = normalise_name(order.name)
    subject = await subjects.by_name(db, order.owner_id, name)
    if subject is None:
        raise EnrollmentRefused([f"You have no pet named {name!r}. `/status` lists yours."])
    if subject.status is SubjectStatus.FAILED or subject.model_job_id is None:
        # Nothing to keep drawing with meanwhile, and nothing to continue from: growing is
        # a new /train with all the photos, which the owner can send better in one go.
        waiting = subject.status in (SubjectStatus.PENDING, SubjectStatus.TRAINING)
        raise EnrollmentRefused(
            [
                f"{name} is still in its first training: wait until it is ready, then /grow it."
                if waiting
                else f"{name} has no model to grow: its training did not finish. `/forget` "
                "it, then /train it again with all its photos."
            ]
        )
    return subject


async def _check_limits(
    db: Database, settings: Settings, order: GrowthOrder, subject: Subject
) -> None:
    """A growth is a training: one at a time per owner, and the server's quotas."""
    await check_active_trainings(db, settings, order.owner_id)
    await _check_not_growing(db, subject)
    async with db.transaction() as tx:
        await _check_guild_rules(tx, order)


async def _check_not_growing(db: Database, subject: Subject) -> None:
    """One growth of a pet at a time, whatever the owner's training limit: two at once
    would each train on the other's photos, and the later success would undo the earlier."""
    active = await jobs.list_jobs(
        db, owner_id=subject.owner_id, states=[JobState.QUEUED, JobState.RUNNING]
    )
    growing = [j for j in active if j.kind is JobKind.TRAIN and j.subject_id == subject.id]
    if growing:
        raise EnrollmentRefused(
            [
                f"{subject.name} is already growing (job {growing[0].id}): wait for it to "
                f"finish, or `/cancel job:{growing[0].id}` and grow it again with all the "
                "new photos."
            ]
        )


async def _check_guild_rules(tx: Transaction, order: GrowthOrder) -> None:
    refusal = await training_refusal(tx, order.guild_id, order.owner_id)
    if refusal is not None:
        raise EnrollmentRefused([refusal])


async def _check_rank(storage: Storage, subject: Subject, rank: int) -> None:
    """The adapter must have the model's shape to start from it: the operator may have
    changed the default rank since the pet was trained."""
    assert subject.lora_path is not None
    about = await asyncio.to_thread(storage.fetch, f"{subject.lora_path}/petbooth.json")
    model_rank = json.loads(about.read_text()).get("rank") if about is not None else None
    if model_rank is not None and int(model_rank) != rank:
        raise EnrollmentRefused(
            [
                f"{subject.name}'s model has rank {model_rank} and this bot now trains rank "
                f"{rank}, so it cannot continue from it: grow it with `mode: fresh`."
            ]
        )


async def _model_in_use_weights(settings: Settings, storage: Storage, subject: Subject) -> str:
    """The LoRA file the pet draws with (its picked or recommended step, else the final
    one): the likeness its owner knows is the one to grow from."""
    step = step_in_use(subject).step
    assert subject.lora_path is not None and subject.model_job_id is not None
    if step is not None:
        weights = job_checkpoint_weights(settings, subject.model_job_id, step)
        if await asyncio.to_thread(storage.exists, storage.key_of(weights)):
            return settings.data_relative(weights)
    return f"{subject.lora_path}/{LORA_WEIGHTS}"


@dataclass(frozen=True)
class _KnownPhoto:
    source_name: str
    sha256: str
    image: Image.Image
    image_hash: int


def _open_photos(settings: Settings, storage: Storage, photos: list[Photo]) -> list[_KnownPhoto]:
    """The pet's photos, opened (fetched from storage when only storage has them)."""
    known = []
    for photo in photos:
        path = storage.fetch(storage.key_of(settings.data_dir / photo.path))
        if path is None:
            continue  # a lost file: its copy is not refused, which harms nothing
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        known.append(_KnownPhoto(photo.source_name, photo.sha256, image, difference_hash(image)))
    return known


def _without_known(intake: IntakeResult, known: list[_KnownPhoto]) -> IntakeResult:
    """The intake minus the photos the pet already has (exact or near copies), which are
    skipped with a reason rather than refusing the whole growth."""
    new: list[AcceptedPhoto] = []
    skipped = list(intake.rejected)
    for photo in intake.accepted:
        image_hash = difference_hash(photo.image)
        twin = next(
            (
                k
                for k in known
                if k.sha256 == photo.sha256 or is_near_duplicate(k.image_hash, image_hash)
            ),
            None,
        )
        if twin is None:
            new.append(photo)
        else:
            skipped.append(
                Rejection(photo.source_name, f"already one of its photos ({twin.source_name})")
            )
    return IntakeResult(accepted=new, rejected=skipped, warnings=[], problem=None)


def _check_count(subject: Subject, intake: IntakeResult, have: int, room: int) -> None:
    if not intake.accepted:
        raise EnrollmentRefused(
            [f"None of these photos is new to {subject.name}: send photos it does not have yet."],
            intake,
        )
    if len(intake.accepted) > room:
        raise EnrollmentRefused(
            [
                f"{subject.name} has {have} photos; {len(intake.accepted)} more would pass "
                f"the {have + room} a pet can have. Send at most {room}."
            ],
            intake,
        )


@dataclass(frozen=True)
class _Queued:
    order: GrowthOrder
    subject: Subject
    intake: IntakeResult
    growth: Growth
    config: TrainingDefaults
    params: dict[str, Any]


async def _queue(
    db: Database, settings: Settings, storage: Storage, queued: _Queued, known: list[Image.Image]
) -> Grown:
    order, intake = queued.order, queued.intake
    # Inside the pet's folder, so /forget finds the files even of a growth that failed.
    pet_folder = Path((await subjects.photos(db, queued.subject.id))[0].path).parent.parent
    folder = settings.data_dir / pet_folder / f"grown-{secrets.token_hex(6)}"
    sheet = folder / "contact-sheet.jpg"
    everything = known + [p.image for p in intake.accepted]
    resolution = queued.config.resolution
    saved = await asyncio.to_thread(_write_files, intake, everything, folder, sheet, resolution)
    try:
        await asyncio.to_thread(storage.publish, folder)
        async with db.transaction() as tx:
            await tx.lock("owner", order.owner_id)
            # Again under the lock: another process may have queued meanwhile.
            await check_active_trainings(db, settings, order.owner_id)
            await _check_not_growing(db, queued.subject)
            await _check_guild_rules(tx, order)
            job_id = await jobs.enqueue_tx(
                tx,
                JobKind.TRAIN,
                owner_id=order.owner_id,
                subject_id=queued.subject.id,
                guild_id=order.guild_id,
                channel_id=order.channel_id,
                params=queued.params,
                total_steps=queued.config.steps,
                max_attempts=settings.max_attempts,
            )
            rows = photo_rows(settings, intake, saved)
            await subjects.add_photos_tx(tx, queued.subject.id, rows, grown_by_job_id=job_id)
    except BaseException:  # in storage and here: a refusal under the lock leaves no files
        await discard_folder(storage, folder)
        raise
    return Grown(queued.subject, job_id, intake, queued.growth, sheet, queued.config)


def _write_files(
    intake: IntakeResult, everything: list[Image.Image], folder: Path, sheet: Path, resolution: int
) -> list[tuple[Path, int]]:
    saved = save_photos(intake.accepted, folder / "photos")
    # Every photo the growth trains on, framed as the trainer frames them (as /train shows).
    crops = [frame(image, resolution).image for image in everything]
    contact_sheet(crops).save(sheet, quality=90)
    return saved
