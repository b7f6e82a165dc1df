"""Deleting a pet: its photos, trained models, previews, pictures, and rows."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from bot.utils.paths import inside
from engine.settings import Settings
from engine.store import Database, Job, Subject, jobs, subjects

MIN_DEPTH = 2  # subjects/<pet>, jobs/<id>: anything shallower is shared by every user


async def subject_jobs(db: Database, subject: Subject) -> list[Job]:
    mine = await jobs.list_jobs(db, owner_id=subject.owner_id)
    return [j for j in mine if j.subject_id == subject.id]


async def folders_of(db: Database, settings: Settings, subject: Subject) -> set[Path]:
    """Every folder holding this subject's files, each checked to be inside the data dir."""
    found: set[Path] = set()
    for photo in await subjects.photos(db, subject.id):
        parent = Path(photo.path).parent
        # enrol_subject writes subjects/<folder>/photos/<name>: the pet's folder is two up.
        folder = parent.parent if parent.name == "photos" else parent
        found.add(folder)
    for job in await subject_jobs(db, subject):
        found.add(settings.job_dir(job.id).relative_to(settings.data_dir))
        found.add(settings.output_dir(job.id).relative_to(settings.data_dir))  # its pictures
    if subject.lora_path:
        found.add(Path(subject.lora_path))
    # Never a top-level folder such as subjects/ or jobs/ itself: that is everyone's data.
    resolved = {inside(settings.data_dir, f) for f in found if len(f.parts) >= MIN_DEPTH}
    return {path for path in resolved if path is not None}


def _remove(paths: set[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


async def forget_subject(db: Database, settings: Settings, subject: Subject) -> None:
    """Files first, then rows (photos, jobs and events cascade with the subject)."""
    paths = await folders_of(db, settings, subject)
    await asyncio.to_thread(_remove, paths)
    await subjects.delete(db, subject.id)
