"""Who may touch what: owners their own subjects and jobs, the admin role every job."""

from __future__ import annotations

import discord

from bot.errors import UserError
from bot.utils.format import quoted
from engine.orders.pet_names import normalise_name
from engine.settings import Settings
from engine.store import Database, Job, Subject, jobs, subjects


def is_admin(user: discord.User | discord.Member, settings: Settings) -> bool:
    role = settings.discord_admin_role
    if not role or not isinstance(user, discord.Member):
        return False
    return any(r.name == role for r in user.roles)


async def own_subject(db: Database, owner_id: int, name: str) -> Subject:
    """The caller's subject by name. Other users' pets are invisible: same answer as none."""
    subject = await subjects.by_name(db, owner_id, normalise_name(name))
    if subject is None:
        raise UserError(f"You have no pet named {quoted(name)}. `/status` lists yours.")
    return subject


async def visible_job(db: Database, job_id: int, user_id: int, admin: bool) -> Job:
    """A job the caller owns (any job for admins); someone else's reads as unknown."""
    job = await jobs.get(db, job_id)
    if job is None or (job.owner_id != user_id and not admin):
        raise UserError(f"You have no job {job_id}. `/status` lists yours.")
    return job
