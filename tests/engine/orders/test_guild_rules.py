"""A server's rules when jobs are queued: the pause switch and the daily quotas, on both
backends, on a clock the test moves (quotas reset at 00:00 UTC)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from engine.orders.guild_rules import PAUSED, training_refusal
from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine
from engine.settings import Settings
from engine.store import Database, JobKind, guilds, jobs, subjects
from engine.store.guilds import GuildRules
from tests.engine.store._clock import FakeClock

GUILD, ALICE, BOB, CAROL = 500, 1, 2, 3
EVENING = 1_735_761_600.0  # 2025-01-01 20:00 UTC
MIDNIGHT = 1_735_776_000  # 2025-01-02 00:00 UTC: the next reset


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(EVENING)


@pytest.fixture
async def db(store_target: Path | str, clock: FakeClock) -> AsyncIterator[Database]:
    async with await Database.open(store_target, clock=clock) as database:
        yield database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_queued_generations_per_user=50, _env_file=None)


async def pictures(db: Database, settings: Settings, owner: int, count: int, guild: int | None):
    order = ImagineOrder(owner, "a lighthouse", count=count, guild_id=guild, channel_id=7)
    return await enqueue_imagine(db, settings, order)


async def may_train(db: Database, owner: int, guild: int | None = GUILD) -> str | None:
    async with db.transaction() as tx:
        return await training_refusal(tx, guild, owner)


async def test_a_server_no_admin_changed_has_the_defaults(db: Database) -> None:
    rules = await guilds.get(db, GUILD)
    assert rules == GuildRules.default(GUILD)
    assert rules.safety_filter and not rules.paused and rules.imagine_role_ids == ()
    assert await may_train(db, ALICE) is None


async def test_a_change_is_stored_with_who_made_it(db: Database) -> None:
    def artists_only(rules: GuildRules) -> GuildRules:
        return replace(rules, imagine_role_ids=(2**62,), safety_filter=False)

    before, after = await guilds.change(db, GUILD, BOB, artists_only)
    assert before == GuildRules.default(GUILD)
    assert await guilds.get(db, GUILD) == after
    assert after.imagine_role_ids == (2**62,) and not after.safety_filter
    assert (after.updated_by, after.updated_at) == (BOB, EVENING)


async def test_a_member_quota_refuses_until_the_next_utc_midnight(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await guilds.change(db, GUILD, BOB, lambda r: replace(r, daily_pictures_per_user=3))
    await pictures(db, settings, ALICE, 2, GUILD)
    with pytest.raises(ImagineRefused) as refused:
        await pictures(db, settings, ALICE, 2, GUILD)
    assert refused.value.reasons == [
        "This server allows 3 pictures a day per member, and you have only 1 left today: ask "
        f"for 1 or fewer, or wait until the quota resets <t:{MIDNIGHT}:R> (00:00 UTC)."
    ]
    await pictures(db, settings, BOB, 2, GUILD)  # another member's quota
    await pictures(db, settings, ALICE, 2, None)  # a DM: no server rules
    clock.now = MIDNIGHT
    await pictures(db, settings, ALICE, 3, GUILD)


async def test_failed_and_cancelled_trainings_give_their_unit_back(db: Database) -> None:
    await guilds.change(db, GUILD, BOB, lambda r: replace(r, daily_trainings_per_user=1))
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=ALICE, guild_id=GUILD)
    assert "allows 1 training a day per member, and you have none left" in (
        await may_train(db, ALICE) or ""
    )
    for state in ("failed", "cancelled"):
        await db.execute("UPDATE jobs SET state = ? WHERE id = ?", (state, job_id))
        assert await may_train(db, ALICE) is None


async def test_forgetting_a_pet_gives_no_unit_back(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    """/forget deletes a pet's jobs, which the quotas count: what they counted today stays
    counted, or /train, /forget, /train would pass any daily limit."""
    limits = {"daily_trainings_per_user": 1, "daily_pictures_per_guild": 3}
    await guilds.change(db, GUILD, BOB, lambda r: replace(r, **limits))
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=ALICE, name="thor", class_noun="cat")
        await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=ALICE, subject_id=pet.id, guild_id=GUILD)
        params = {"count": 2}
        await jobs.enqueue_tx(
            tx, JobKind.GENERATE, owner_id=ALICE, subject_id=pet.id, guild_id=GUILD, params=params
        )
        await jobs.enqueue_tx(  # never ran: gives its unit back, as a cancelled one does
            tx, JobKind.GENERATE, owner_id=ALICE, subject_id=pet.id, guild_id=GUILD, params=params
        )
    await db.execute("UPDATE jobs SET state = 'succeeded' WHERE id < 3")  # trained, drawn
    await subjects.delete(db, pet.id)

    assert await jobs.list_jobs(db) == []  # gone with the pet
    assert "you have none left" in (await may_train(db, ALICE) or "")
    with pytest.raises(ImagineRefused, match="3 pictures a day for all its members together"):
        await pictures(db, settings, BOB, 2, GUILD)
    await pictures(db, settings, BOB, 1, GUILD)  # the third
    clock.now = MIDNIGHT  # a new day: forgotten or not, every quota is whole again
    assert await may_train(db, ALICE) is None
    await pictures(db, settings, BOB, 3, GUILD)


async def test_the_server_quota_counts_every_member(db: Database, settings: Settings) -> None:
    await guilds.change(db, GUILD, BOB, lambda r: replace(r, daily_pictures_per_guild=2))
    await pictures(db, settings, ALICE, 1, GUILD)
    await pictures(db, settings, BOB, 1, GUILD)
    with pytest.raises(ImagineRefused, match="2 pictures a day for all its members together"):
        await pictures(db, settings, CAROL, 1, GUILD)


async def test_a_paused_server_refuses_trainings_and_pictures(
    db: Database, settings: Settings
) -> None:
    await guilds.change(db, GUILD, BOB, lambda r: replace(r, paused=True))
    assert await may_train(db, ALICE) == PAUSED
    with pytest.raises(ImagineRefused, match="A server admin paused"):
        await pictures(db, settings, ALICE, 1, GUILD)
    assert await may_train(db, ALICE, guild=None) is None  # DMs have no server


async def test_members_at_once_cannot_all_take_the_last_picture(
    db: Database, settings: Settings
) -> None:
    # PostgreSQL runs these transactions at once: the server's lock lets one count at a time.
    await guilds.change(db, GUILD, BOB, lambda r: replace(r, daily_pictures_per_guild=1))
    results = await asyncio.gather(
        *(pictures(db, settings, owner, 1, GUILD) for owner in range(10, 16)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ImagineQueued"] + ["ImagineRefused"] * 5
