"""The real bot against simcord's simulated Discord, over a real SQLite file in tmp_path.

The fixtures of every test that drives the bot; the conftest.py of tests/bot and of
tests/system import them from here. A test module overrides ``settings`` to change them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import simcord

from bot.client import PetBooth
from bot.errors import UserError
from engine.settings import Settings
from engine.store import Database
from tests.bot._world import ADMIN_ROLE, Trial, World, bot_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return bot_settings(tmp_path)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True)
    async with await Database.open(settings.database_path) as database:
        yield database


@pytest.fixture
async def env(
    settings: Settings, db: Database, request: pytest.FixtureRequest
) -> AsyncIterator[simcord.Env]:
    # Our own check instead of simcord's: refusals (UserError) pass through the tree's
    # error handler on purpose; anything else the bot raised fails the test.
    # (simcord.Env rather than simcord.run: its clock context must not span fixture tasks.)
    environment = simcord.Env(PetBooth(settings, db, sync_commands=True), check_errors=False)
    await environment.start()
    try:
        yield environment
    finally:
        await environment.shutdown()
    if request.node.get_closest_marker("bot_errors_expected") is None:
        unexpected = [e for e in environment.errors if not isinstance(e, UserError)]
        assert not unexpected, f"the bot raised: {unexpected!r}"


@pytest.fixture
def world(env: simcord.Env) -> World:
    guild = env.create_guild("Pets")
    channel = guild.create_text_channel("pets")
    admins = guild.create_role(ADMIN_ROLE)
    return World(
        guild=guild,
        channel=channel,
        alice=guild.add_member(env.create_user("alice")),
        bob=guild.add_member(env.create_user("bob")),
        admin=guild.add_member(env.create_user("carol"), roles=[admins]),
    )


@pytest.fixture
def trial(world: World, db: Database, env: simcord.Env, settings: Settings) -> Trial:
    return Trial(world, db, env, settings)
