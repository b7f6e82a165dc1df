"""Turn uploaded photos into a subject plus a queued training job (torch-free).

The CLI and the bot both call ``enrol_subject``: intake validates and normalises the photos,
they are written to a fresh folder, and ONE transaction inserts the subject, its photos and
the ``train`` job, so a crash never leaves a subject without its job or a job without photos.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.intake import (
    IntakeLimits,
    IntakeResult,
    Upload,
    contact_sheet,
    frame,
    save_photos,
    validate_uploads,
)
from engine.orders.guild_rules import training_refusal
from engine.orders.pet_names import name_problem, normalise_name
from engine.settings import Settings, TrainingDefaults
from engine.storage import Storage, open_storage
from engine.store import Database, JobKind, JobState, Subject, Transaction, jobs, subjects
from engine.store.records import NewPhoto
from engine.store.subjects import SubjectExistsError

_CLASS = re.compile(r"^[a-z][a-z ]{0,30}[a-z]$|^[a-z]$")
# What a `train` job may override per job; everything else comes from settings.
TRAIN_OVERRIDES = (
    "steps",
    "resolution",
    "checkpoint_every",
    "prior_preservation",
    "rank",
    "learning_rate",
    "num_class_images",
    "effective_batch",
    "micro_batch",
    "seed",
)


class EnrollmentRefused(Exception):
    """The request cannot be queued; ``reasons`` are for a person."""

    def __init__(self, reasons: list[str], intake: IntakeResult | None = None) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.intake = intake


@dataclass(frozen=True)
class TrainingOrder:
    """What a user asks for with /train (or `petbooth train`), before any check."""

    owner_id: int
    name: str
    class_noun: str
    guild_id: int | None = None
    channel_id: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def problems(self, defaults: TrainingDefaults, slot_rank: int) -> list[str]:
        """Every problem with the text fields and overrides, collected at once. `slot_rank`
        is the generation slot's (`settings.generation.lora_slot_rank`): a LoRA of a higher
        rank would train to the end and then be refused by every /imagine."""
        problems = []
        name = name_problem(self.name)
        if name is not None:
            problems.append(name)
        if not _CLASS.match(self.class_noun.strip().lower()):
            problems.append("Class must be a plain noun of up to 32 letters, e.g. `cat` or `dog`.")
        unknown = sorted(set(self.overrides) - set(TRAIN_OVERRIDES))
        if unknown:
            problems.append(f"Unknown training options: {', '.join(unknown)}.")
        else:
            try:
                config = resolve_config(defaults, self.overrides)
            except ValidationError as err:
                problems += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
            else:
                problems += self._rank_problems(config.rank, slot_rank)
        return problems

    def _rank_problems(self, rank: int, slot_rank: int) -> list[str]:
        if rank <= slot_rank:
            return []
        if "rank" in self.overrides:
            return [
                f"Rank {rank} is more than this bot can draw with (at most {slot_rank}): "
                f"pick a rank of {slot_rank} or less."
            ]
        return [  # the operator's default, not the user's choice
            f"This bot's default rank {rank} is more than it can draw with (at most "
            f"{slot_rank}); ask its operator to lower PETBOOTH_TRAINING__RANK or raise "
            "PETBOOTH_GENERATION__LORA_SLOT_RANK."
        ]


@dataclass(frozen=True)
class Enrolled:
    subject: Subject
    job_id: int
    intake: IntakeResult
    contact_sheet: Path
    config: TrainingDefaults


def resolve_config(defaults: TrainingDefaults, overrides: dict[str, Any]) -> TrainingDefaults:
    return TrainingDefaults.model_validate({**defaults.model_dump(), **overrides})


async def enrol_subject(
    db: Database, settings: Settings, order: TrainingOrder, uploads: list[Upload]
) -> Enrolled:
    problems = order.problems(settings.training, settings.generation.lora_slot_rank)
    if problems:
        raise EnrollmentRefused(problems)
    name, class_noun = normalise_name(order.name), order.class_noun.strip().lower()
    await _check_owner_limits(db, settings, order.owner_id, name)
    if order.guild_id is not None:  # before the photos take seconds to validate
        async with db.transaction() as tx:
            await _check_guild_rules(tx, order)
    limits = IntakeLimits.from_settings(settings)
    intake = await asyncio.to_thread(validate_uploads, uploads, limits)
    if not intake.ok:
        assert intake.problem is not None
        raise EnrollmentRefused([intake.problem], intake)
    config = resolve_config(settings.training, order.overrides)
    # Files first, in a folder no row points at yet; rows second, in one transaction.
    folder = settings.data_dir / "subjects" / f"{order.owner_id}-{secrets.token_hex(6)}"
    sheet = folder / "contact-sheet.jpg"
    saved = await asyncio.to_thread(_write_files, intake, folder, sheet, config.resolution)
    storage = open_storage(settings)
    try:
        # Uploaded before any row names them: an engine on another machine fetches them.
        await asyncio.to_thread(storage.publish, folder)
        async with db.transaction() as tx:
            # Again under the write lock (PostgreSQL: the owner's lock): another process may
            # have queued since the check above (the photos took seconds to validate).
            await tx.lock("owner", order.owner_id)
            await _check_owner_limits(db, settings, order.owner_id, name)
            await _check_guild_rules(tx, order)  # the server's quotas, again
            subject = await subjects.create_tx(
                tx, owner_id=order.owner_id, name=name, class_noun=class_noun
            )
            await subjects.add_photos_tx(tx, subject.id, photo_rows(settings, intake, saved))
            job_id = await jobs.enqueue_tx(
                tx,
                JobKind.TRAIN,
                owner_id=order.owner_id,
                subject_id=subject.id,
                guild_id=order.guild_id,
                channel_id=order.channel_id,
                params=dict(order.overrides),
                total_steps=config.steps,
                max_attempts=settings.max_attempts,
            )
    except SubjectExistsError as err:
        await discard_folder(storage, folder)
        raise EnrollmentRefused([str(err) + " Pick another name or /forget it first."]) from err
    except BaseException:
        await discard_folder(storage, folder)
        raise
    return Enrolled(subject, job_id, intake, sheet, config)


def photo_rows(
    settings: Settings, intake: IntakeResult, saved: list[tuple[Path, int]]
) -> list[NewPhoto]:
    """The rows of the accepted photos, as `save_photos` wrote them (path, size)."""
    return [
        NewPhoto(
            settings.data_relative(path),
            photo.source_name,
            photo.sha256,
            size,
            photo.width,
            photo.height,
        )
        for photo, (path, size) in zip(intake.accepted, saved, strict=True)
    ]


async def discard_folder(storage: Storage, folder: Path) -> None:
    """The files of an enrolment or a growth that placed no rows, in storage and in the
    data dir."""
    try:
        await asyncio.to_thread(storage.delete_folder, storage.key_of(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _check_guild_rules(tx: Transaction, order: TrainingOrder) -> None:
    """The server's pause switch and daily training quotas (none in DMs)."""
    refusal = await training_refusal(tx, order.guild_id, order.owner_id)
    if refusal is not None:
        raise EnrollmentRefused([refusal])


async def _check_owner_limits(db: Database, settings: Settings, owner_id: int, name: str) -> None:
    if await subjects.by_name(db, owner_id, name) is not None:
        raise EnrollmentRefused(
            [f"You already have a pet named {name!r}. Pick another name or /forget it first."]
        )
    await check_active_trainings(db, settings, owner_id)


async def check_active_trainings(db: Database, settings: Settings, owner_id: int) -> None:
    """At most `max_active_trainings_per_user` trainings queued or running per owner; a
    growth (engine/orders/growth.py) is a training too."""
    active = await jobs.list_jobs(db, owner_id=owner_id, states=[JobState.QUEUED, JobState.RUNNING])
    trainings = [j for j in active if j.kind is JobKind.TRAIN]
    if len(trainings) >= settings.max_active_trainings_per_user:
        raise EnrollmentRefused(
            [
                f"You already have a training in progress (job {trainings[0].id}). Wait for it "
                "to finish or cancel it first."
            ]
        )


def _write_files(
    intake: IntakeResult, folder: Path, sheet: Path, resolution: int
) -> list[tuple[Path, int]]:
    saved = save_photos(intake.accepted, folder / "photos")
    # Framed at the training resolution, exactly as the trainer frames them, then shrunk.
    crops = [frame(photo.image, resolution).image for photo in intake.accepted]
    contact_sheet(crops).save(sheet, quality=90)
    return saved
