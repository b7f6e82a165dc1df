"""A server's pause switch and daily quotas, checked when a training or pictures are queued
(torch-free). Called inside the transaction that inserts the job, so a quota's last unit
goes to one request only; roles are the bot's to check (only Discord knows a member's).

Each check returns the refusal for a person, or None; the caller raises its own refusal
type (``EnrollmentRefused``, ``ImagineRefused``) with it. No guild (DMs, the CLI): no rules.
"""

from __future__ import annotations

from engine.store import Database, Transaction, guilds
from engine.store.guilds import DAY_SECONDS, Usage

# (which quota, who has what is left of it), for the member's quota and the server's
_WHOSE = (("per member", "you have"), ("for all its members together", "they have"))
PAUSED = "A server admin paused new trainings and pictures here for now; try again later."


def reset_at(now: float) -> int:
    """When today's quotas reset: the next 00:00 UTC, as Unix seconds."""
    return int(guilds.day_start(now) + DAY_SECONDS)


def discord_time(unix: int) -> str:
    """A Discord timestamp ("in 5 hours"): each reader sees it in their own time zone."""
    return f"<t:{unix}:R>"


async def training_refusal(tx: Transaction, guild_id: int | None, owner_id: int) -> str | None:
    """Why this member may not queue a training in this server now, or None."""
    if guild_id is None:
        return None
    rules = await guilds.get(tx, guild_id)
    if rules.paused:
        return PAUSED
    limits = (rules.daily_trainings_per_user, rules.daily_trainings_per_guild)
    if limits == (None, None):
        return None
    await tx.lock("guild", guild_id)  # PostgreSQL: one request at a time takes the last unit
    mine, everyone = await todays_use(tx, guild_id, owner_id, tx.now)
    return _over_quotas(
        limits, (mine.trainings, everyone.trainings), asked=1, noun="training", now=tx.now
    )


async def pictures_refusal(
    tx: Transaction, guild_id: int | None, owner_id: int, count: int
) -> str | None:
    """Why this member may not queue ``count`` pictures in this server now, or None."""
    if guild_id is None:
        return None
    rules = await guilds.get(tx, guild_id)
    if rules.paused:
        return PAUSED
    limits = (rules.daily_pictures_per_user, rules.daily_pictures_per_guild)
    if limits == (None, None):
        return None
    await tx.lock("guild", guild_id)
    mine, everyone = await todays_use(tx, guild_id, owner_id, tx.now)
    return _over_quotas(
        limits, (mine.pictures, everyone.pictures), asked=count, noun="picture", now=tx.now
    )


async def todays_use(
    db: Database | Transaction, guild_id: int, owner_id: int, now: float
) -> tuple[Usage, Usage]:
    """What the server's quotas count today: the member's use, then all its members'. The
    checks above read it inside the queuing transaction; /status shows it."""
    mine = await guilds.usage(db, guild_id, now, owner_id=owner_id)
    everyone = await guilds.usage(db, guild_id, now)
    return mine, everyone


def _over_quotas(
    limits: tuple[int | None, int | None],
    used: tuple[int, int],
    *,
    asked: int,
    noun: str,
    now: float,
) -> str | None:
    """The refusal of the first quota (the member's, then the server's) that ``asked``
    more would pass, or None."""
    for limit, spent, whose in zip(limits, used, _WHOSE, strict=True):
        if limit is None or spent + asked <= limit:
            continue
        allows = f"This server allows {limit} {noun}{'s' if limit != 1 else ''} a day {whose[0]}"
        resets = f"the quota resets {discord_time(reset_at(now))} (00:00 UTC)"
        left = limit - spent
        if left <= 0:
            return f"{allows}, and {whose[1]} none left today; {resets}."
        return (
            f"{allows}, and {whose[1]} only {left} left today: ask for {left} or fewer, "
            f"or wait until {resets}."
        )
    return None
