"""The one error policy: an unexpected error gets a generic private reply and is logged."""

from __future__ import annotations

import logging
import sqlite3
import sys

import pytest
import simcord

from bot.errors import GENERIC_FAILURE, STORE_AWAY
from tests.bot._world import World, reply


@pytest.mark.bot_errors_expected
async def test_unexpected_errors_get_a_generic_reply_and_are_logged(
    world: World,
    env: simcord.Env,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    # The extension as the bot loaded it (load_extension keeps it in sys.modules only).
    monkeypatch.setattr(sys.modules["bot.jobs._cog"], "build_status", broken)

    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        answer = reply(await world.alice.slash(world.channel, "status"))

    assert answer.ephemeral
    assert answer.content == GENERIC_FAILURE
    assert "database on fire" not in answer.content
    [record] = caplog.records
    assert f"/status by user {world.alice.id}" in record.getMessage()
    assert record.exc_info is not None and "database on fire" in str(record.exc_info[1])
    assert len(env.errors) == 1


@pytest.mark.bot_errors_expected
async def test_a_store_that_does_not_answer_is_said_as_such(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def locked(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(sys.modules["bot.jobs._cog"], "build_status", locked)

    with caplog.at_level(logging.WARNING, logger="bot.errors"):
        answer = reply(await world.alice.slash(world.channel, "status"))

    assert answer.ephemeral and answer.content == STORE_AWAY
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None  # no traceback
    assert "database is locked" in record.getMessage()
