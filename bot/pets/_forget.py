"""Deleting a pet: its photos, trained models, previews, pictures, and rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.utils.paths import inside
from engine.orders.forgotten_copies import MIN_DEPTH
from engine.settings import Settings
from engine.storage import Storage, open_storage
from engine.store import Database, Job, Subject, jobs, subjects


async def subject_jobs(db: Database, subject: Subject) -> list[Job]:
    """Its jobs, and the pictures it is the second pet of: those rows stay with the first pet,
    but their files show this one, so they go too (the engine refuses one still queued)."""
    mine = await jobs.list_jobs(db, owner_id=subject.owner_id)
    return [
        j
        for j in mine
        if j.subject_id == subject.id or j.params.get("with_subject_id") == subject.id
    ]


async def folders_of(db: Database, settings: Settings, subject: Subject) -> set[str]:
    """The storage key of every folder holding this subject's files, each checked to stay
    inside the data dir."""
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
    deep = {f for f in found if len(f.parts) >= MIN_DEPTH}
    return {f.as_posix() for f in deep if inside(settings.data_dir, f) is not None}


def _remove(storage: Storage, folders: set[str]) -> None:
    for folder in sorted(folders):  # in storage and in the local cache
        storage.delete_folder(folder)


async def forget_subject(db: Database, settings: Settings, subject: Subject) -> None:
    """Files first, then rows (photos, jobs and events cascade with the subject)."""
    folders = await folders_of(db, settings, subject)
    await asyncio.to_thread(_remove, open_storage(settings), folders)
    # Other processes' caches (engines, bot shards) drop their copies when they read these.
    await subjects.delete(db, subject.id, sorted(folders))
