"""The bot token never reaches a log line, an error reply, or a repr: not when a command
fails, not when a delivery fails, not when Discord refuses the token at start."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import discord
import pytest
import simcord
from pydantic import SecretStr

import bot.__main__ as bot_main
from bot.errors import GENERIC_FAILURE
from engine.settings import Settings
from engine.store import Database, EventKind, events, jobs
from tests.bot._world import World, bot_messages, bot_settings, reply, train

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.this-is-the-secret-bot-token-0123456789"
SIMCORD_TOKEN = "simcord.fake.token"  # what the simulated bot really logged in with


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return bot_settings(tmp_path, discord_token=SecretStr(TOKEN))


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: discord.*, aiohttp, bot.*, engine.*
    for name in ("discord", "discord.http", "discord.client", "discord.gateway", "bot"):
        logging.getLogger(name).setLevel(logging.DEBUG)


def leaked(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Every place the token turned up: log records (message, arguments, traceback),
    stdout and stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    texts = [handler.format(record) for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    return [t for t in texts if TOKEN in t or SIMCORD_TOKEN in t]


def test_settings_never_show_the_token(settings: Settings) -> None:
    shown = [repr(settings), str(settings), settings.model_dump_json(), f"{settings!r}"]
    assert not [text for text in shown if TOKEN in text]
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == TOKEN  # still usable where needed


@pytest.mark.bot_errors_expected
async def test_an_unexpected_error_in_a_command_is_logged_without_the_token(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"status failed while settings were {settings!r}")

    # The module as the bot loaded it (load_extension puts its own copy in sys.modules).
    monkeypatch.setattr(sys.modules["bot.jobs._cog"], "build_status", broken)

    answer = reply(await world.alice.slash(world.channel, "status"))

    assert answer.content == GENERIC_FAILURE
    assert any(
        r.exc_info and "status failed" in r.getMessage() + str(r.exc_info[1])
        for r in caplog.records
    )
    assert leaked(caplog, capsys) == []


async def test_a_failing_delivery_is_logged_without_the_token(
    world: World,
    db: Database,
    env: simcord.Env,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await train(world.alice, world.channel)
    [job] = await jobs.list_jobs(db)
    await events.append_event(db, job.id, EventKind.FAILED, {"error": "CUDA out of memory"})

    async def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Discord said no")

    monkeypatch.setattr(discord.PartialMessageable, "send", refused)
    for _ in range(3):  # every attempt fails: logged each time, then given up
        await env.advance_time(1.5)

    assert "Giving up on event" in caplog.text
    assert bot_messages(world.channel) == []
    assert leaked(caplog, capsys) == []


class Unauthorized(BaseHTTPRequestHandler):
    """Discord's answer to a bad token, on 127.0.0.1: every request is a 401."""

    seen_tokens: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Unauthorized.seen_tokens.append(self.headers.get("Authorization", ""))
        body = json.dumps({"message": "401: Unauthorized", "code": 0}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the server's own access log is not the bot's


@pytest.fixture
def fake_discord(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(
        discord.http.Route, "BASE", f"http://127.0.0.1:{server.server_port}/api/v10"
    )
    Unauthorized.seen_tokens = []
    try:
        yield Unauthorized.seen_tokens
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_token_at_start_says_what_to_do_without_showing_it(
    settings: Settings,
    fake_discord: list[str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = bot_main.main(settings=settings)

    assert code == 1
    assert fake_discord == [f"Bot {TOKEN}"]  # the real login request was made, and refused
    assert "Reset Token" in caplog.text + capsys.readouterr().err
    assert leaked(caplog, capsys) == []
