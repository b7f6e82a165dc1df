"""Where pictures are posted decides, when they are queued, whether the engine screens
them (``params.safety_check``): DMs and channels that are not age-restricted are, unless
the operator or the server's admin turned the filter off; the operator's CLI is not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.orders.imagine import ImagineOrder, enqueue_imagine
from engine.settings import SafetySettings, Settings
from engine.store import Database, guilds

GUILD, CHANNEL = 10, 20


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


async def checked(db: Database, settings: Settings, **where: object) -> bool:
    queued = await enqueue_imagine(db, settings, ImagineOrder(1, "a cat", **where))  # type: ignore[arg-type]
    return queued.params["safety_check"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"guild_id": GUILD, "channel_id": CHANNEL}, True),
        ({"guild_id": GUILD, "channel_id": CHANNEL, "age_restricted": True}, False),
        ({"guild_id": None, "channel_id": CHANNEL}, True),  # a DM
        ({}, False),  # `petbooth imagine`: for the operator, not a channel
    ],
    ids=["channel", "age-restricted", "dm", "cli"],
)
async def test_the_channel_decides(
    db: Database, settings: Settings, where: dict[str, object], expected: bool
) -> None:
    assert await checked(db, settings, **where) is expected


async def test_a_server_admin_can_turn_it_off_there(db: Database, settings: Settings) -> None:
    await guilds.change(db, GUILD, 99, lambda rules: replace(rules, safety_filter=False))

    assert not await checked(db, settings, guild_id=GUILD, channel_id=CHANNEL)
    assert await checked(db, settings, guild_id=GUILD + 1, channel_id=CHANNEL)


async def test_the_operator_can_turn_it_off_everywhere(db: Database, tmp_path: Path) -> None:
    off = Settings(data_dir=tmp_path, safety=SafetySettings(enabled=False), _env_file=None)
    assert not await checked(db, off, guild_id=None, channel_id=CHANNEL)
