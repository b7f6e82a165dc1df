"""Per-server rules (``guild_settings``), set by a server admin with /server, and the day's
use of a server's quotas.

A server without a row has the defaults: everyone may /train and /imagine, no quotas, not
paused, the safety filter on. Quotas count per UTC day (they reset at 00:00 UTC) the jobs
created in that server that are queued, running or succeeded: a failed or cancelled job
gives its unit back, since the member got nothing from it. A pet forgotten today takes its
jobs along; what its running and finished ones counted stays counted (``forgotten_use``,
written by ``keep_use_of_forgotten_tx`` before the jobs go; a queued one never ran).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.store.database import Database, Row, Transaction
from engine.store.records import JobKind, JobState

DAY_SECONDS = 86_400  # Unix time has no leap seconds: every UTC day starts at a multiple
_COUNTED = (JobState.QUEUED.value, JobState.RUNNING.value, JobState.SUCCEEDED.value)
# A forgotten pet's queued jobs go with it, never run: like a cancelled one, no unit.
_COUNTED_WHEN_FORGOTTEN = tuple(s for s in _COUNTED if s != JobState.QUEUED.value)
# A generate job's pictures: params.count (1 when a job was queued without one).
_PICTURES = {
    "sqlite": "COALESCE(json_extract(params, '$.count'), 1)",
    "postgres": "COALESCE((params::jsonb ->> 'count')::bigint, 1)",
}


@dataclass(frozen=True)
class GuildRules:
    guild_id: int
    train_role_ids: tuple[int, ...] = ()  # empty: every member may /train
    imagine_role_ids: tuple[int, ...] = ()  # empty: every member may /imagine
    daily_trainings_per_user: int | None = None  # None: unlimited
    daily_trainings_per_guild: int | None = None
    daily_pictures_per_user: int | None = None
    daily_pictures_per_guild: int | None = None
    paused: bool = False  # /train, /imagine and the picture buttons refuse
    safety_filter: bool = True  # read by generation: off only where a server admin says so
    updated_at: float | None = None  # None: never changed (the defaults)
    updated_by: int | None = None

    @classmethod
    def default(cls, guild_id: int) -> GuildRules:
        return cls(guild_id)

    @classmethod
    def from_row(cls, row: Row) -> GuildRules:
        values = dict(row)
        for roles in ("train_role_ids", "imagine_role_ids"):
            values[roles] = tuple(int(r) for r in json.loads(values[roles]))
        values["paused"] = bool(values["paused"])
        values["safety_filter"] = bool(values["safety_filter"])
        return cls(**values)


@dataclass(frozen=True)
class Usage:
    """What a quota counts, since ``day_start`` (00:00 UTC)."""

    trainings: int
    pictures: int


def day_start(now: float) -> float:
    """00:00 UTC of the day ``now`` is in; the quotas reset a day later."""
    return now - now % DAY_SECONDS


async def get(db: Database | Transaction, guild_id: int) -> GuildRules:
    """The server's rules (the defaults when no admin changed any)."""
    row = await db.fetch_one("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,))
    return GuildRules.from_row(row) if row else GuildRules.default(guild_id)


async def change(
    db: Database, guild_id: int, updated_by: int, edit: Callable[[GuildRules], GuildRules]
) -> tuple[GuildRules, GuildRules]:
    """Apply ``edit`` to the server's rules in one transaction (two admins editing at once
    each see the other's change); returns the rules before and after."""
    async with db.transaction() as tx:
        await tx.lock("guild-settings", guild_id)
        before = await get(tx, guild_id)
        after = replace(edit(before), guild_id=guild_id, updated_at=tx.now, updated_by=updated_by)
        await tx.execute(
            """INSERT INTO guild_settings (guild_id, train_role_ids, imagine_role_ids,
                   daily_trainings_per_user, daily_trainings_per_guild,
                   daily_pictures_per_user, daily_pictures_per_guild, paused, safety_filter,
                   updated_at, updated_by)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET
                   train_role_ids = excluded.train_role_ids,
                   imagine_role_ids = excluded.imagine_role_ids,
                   daily_trainings_per_user = excluded.daily_trainings_per_user,
                   daily_trainings_per_guild = excluded.daily_trainings_per_guild,
                   daily_pictures_per_user = excluded.daily_pictures_per_user,
                   daily_pictures_per_guild = excluded.daily_pictures_per_guild,
                   paused = excluded.paused, safety_filter = excluded.safety_filter,
                   updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
            (
                guild_id,
                json.dumps(list(after.train_role_ids)),
                json.dumps(list(after.imagine_role_ids)),
                after.daily_trainings_per_user,
                after.daily_trainings_per_guild,
                after.daily_pictures_per_user,
                after.daily_pictures_per_guild,
                int(after.paused),
                int(after.safety_filter),
                after.updated_at,
                after.updated_by,
            ),
        )
    return before, after


async def usage(
    db: Database | Transaction,
    guild_id: int,
    now: float,
    owner_id: int | None = None,
) -> Usage:
    """Today's trainings and pictures in the server (``owner_id``: one member's only)."""
    dialect = db.dialect
    sql = f"""SELECT COALESCE(SUM(CASE WHEN kind = ? THEN 1 ELSE 0 END), 0),
                     COALESCE(SUM(CASE WHEN kind = ? THEN {_PICTURES[dialect]} ELSE 0 END), 0)
              FROM jobs
              WHERE guild_id = ? AND created_at >= ? AND state IN (?, ?, ?)"""
    args: list[object] = [
        JobKind.TRAIN.value,
        JobKind.GENERATE.value,
        guild_id,
        day_start(now),
        *_COUNTED,
    ]
    forgotten = """SELECT COALESCE(SUM(trainings), 0), COALESCE(SUM(pictures), 0)
                   FROM forgotten_use WHERE guild_id = ? AND day_start = ?"""
    forgotten_args: list[object] = [guild_id, int(day_start(now))]
    if owner_id is not None:
        sql += " AND owner_id = ?"
        args.append(owner_id)
        forgotten += " AND owner_id = ?"
        forgotten_args.append(owner_id)
    row = await db.fetch_one(sql, args)
    kept = await db.fetch_one(forgotten, forgotten_args)
    assert row is not None and kept is not None  # an aggregate always returns its row
    return Usage(trainings=int(row[0]) + int(kept[0]), pictures=int(row[1]) + int(kept[1]))


async def keep_use_of_forgotten_tx(tx: Transaction, subject_id: int) -> None:
    """Before a pet's jobs are deleted with it: what they count against today's quotas,
    kept per server and member (and the rows of earlier days dropped)."""
    today = int(day_start(tx.now))
    await tx.execute("DELETE FROM forgotten_use WHERE day_start < ?", (today,))
    await tx.execute(
        f"""INSERT INTO forgotten_use (guild_id, owner_id, day_start, trainings, pictures)
            SELECT guild_id, owner_id, ?,
                   SUM(CASE WHEN kind = ? THEN 1 ELSE 0 END),
                   SUM(CASE WHEN kind = ? THEN {_PICTURES[tx.dialect]} ELSE 0 END)
            FROM jobs
            WHERE subject_id = ? AND guild_id IS NOT NULL AND created_at >= ?
                  AND state IN (?, ?)
            GROUP BY guild_id, owner_id
            ON CONFLICT (guild_id, owner_id, day_start) DO UPDATE SET
                trainings = forgotten_use.trainings + excluded.trainings,
                pictures = forgotten_use.pictures + excluded.pictures""",
        (
            today,
            JobKind.TRAIN.value,
            JobKind.GENERATE.value,
            subject_id,
            today,
            *_COUNTED_WHEN_FORGOTTEN,
        ),
    )
