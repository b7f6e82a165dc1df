"""What /pets shows of each pet, read from the store (no Discord here): its state, photos,
the model in use and its scores, its contact sheet and its latest pictures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.orders.checkpoint_choice import StepInUse, step_in_use
from engine.orders.pet_states import pet_state
from engine.store import (
    Database,
    EventKind,
    Job,
    JobKind,
    JobState,
    Subject,
    events,
    jobs,
    scores,
    subjects,
)

LAST_PICTURES = 4  # /pets shows them as one 2 x 2 grid per pet


@dataclass(frozen=True)
class PetCard:
    subject: Subject
    state: str  # "ready", "queued", …; "ready, growing (job 12)" while a growth runs
    photos: int
    in_use: StepInUse | None  # None: no model yet
    scores: dict[str, float] | None  # of the step in use: identity, clip_text
    contact_sheet: str | None  # storage keys (relative to the data dir)
    last_pictures: list[str]  # newest first, at most LAST_PICTURES


async def pet_cards(db: Database, owner_id: int) -> list[PetCard]:
    """One card per pet of `owner_id`, oldest first."""
    mine = await jobs.list_jobs(db, owner_id=owner_id)
    return [
        await _card(db, subject, mine) for subject in await subjects.list_for_owner(db, owner_id)
    ]


async def _card(db: Database, subject: Subject, mine: list[Job]) -> PetCard:
    own = [j for j in mine if j.subject_id == subject.id]
    photos = await subjects.photos(db, subject.id)
    state = pet_state(subject.status)
    growing = [
        j
        for j in own
        if j.kind is JobKind.TRAIN and not j.state.finished and j.id != subject.model_job_id
    ]
    if subject.model_job_id is not None and growing:
        state += f", growing (job {growing[0].id})"
    in_use = step_in_use(subject) if subject.model_job_id is not None else None
    return PetCard(
        subject=subject,
        state=state,
        photos=len(photos),
        in_use=in_use,
        scores=await _scores(db, subject, in_use),
        # the newest photos' folder: enrolment's sheet, or the last growth's (every photo)
        contact_sheet=(Path(photos[-1].path).parent.parent / "contact-sheet.jpg").as_posix()
        if photos
        else None,
        last_pictures=await _last_pictures(db, own),
    )


async def _scores(
    db: Database, subject: Subject, in_use: StepInUse | None
) -> dict[str, float] | None:
    if in_use is None or subject.model_job_id is None:
        return None
    scored = await scores.for_job(db, subject.model_job_id)
    wanted = in_use.step if in_use.step is not None else max((s.step for s in scored), default=None)
    found = next((s for s in scored if s.step == wanted), None)
    return {"identity": found.identity, "clip_text": found.clip_text} if found else None


async def _last_pictures(db: Database, own: list[Job]) -> list[str]:
    """The pet's newest delivered pictures, newest job first (a job's in drawing order)."""
    done = [j for j in own if j.kind is JobKind.GENERATE and j.state is JobState.SUCCEEDED]
    found: list[str] = []
    for job in sorted(done, key=lambda j: j.id, reverse=True):
        for event in await events.for_job(db, job.id, EventKind.DONE):
            found += [str(key) for key in event.files]
        if len(found) >= LAST_PICTURES:
            break
    return found[:LAST_PICTURES]
