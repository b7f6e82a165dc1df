"""The bot dies while it delivers an event; a new bot over the same database delivers it:
every event ends up in the channel exactly once.

A crash is a ``BaseException`` raised at one point of one delivery: it passes every
``except Exception`` and ends the delivery task the way a killed process would, with nothing
after that point run. The new bot has its own connection to the same SQLite file."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest
from PIL import Image

from bot.client import PetBooth
from engine.settings import Settings
from engine.store import Database, EventKind, JobKind, events, jobs
from tests.bot._world import Trial, World, bot_messages, poll, train, trained_subject


class Crash(BaseException):
    """The process died here."""


def picture(settings: Settings, job_id: int, name: str) -> str:
    path = settings.job_dir(job_id) / "outputs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (10, 200, 90)).save(path)
    return str(path.relative_to(settings.data_dir))


async def failed_training(t: Trial) -> str:
    await train(t.world.alice, t.world.channel)
    [job] = await jobs.list_jobs(t.db)
    await events.append_event(t.db, job.id, EventKind.FAILED, {"error": "CUDA out of memory"})
    return "training failed"


async def training_started(t: Trial) -> str:
    await train(t.world.alice, t.world.channel)
    assert await jobs.claim_next(t.db, "gpu-0", 60) is not None  # writes `started`
    return "training started"


async def preview(t: Trial) -> str:
    await train(t.world.alice, t.world.channel)
    [job] = await jobs.list_jobs(t.db)
    grid = picture(t.settings, job.id, "step-000100.png")
    await events.append_event(t.db, job.id, EventKind.PREVIEW, {"step": 100}, files=[grid])
    return "at step 100/"


async def pictures(t: Trial) -> str:
    await trained_subject(t.world, t.db, t.settings)
    await t.world.alice.slash(t.world.channel, "imagine", prompt="TOK on a skateboard", seed=7)
    job = await jobs.claim_next(t.db, "gpu-0", 60)
    assert job is not None and job.kind is JobKind.GENERATE
    files = [picture(t.settings, job.id, f"image-{i}.png") for i in range(2)]
    await events.append_event(t.db, job.id, EventKind.DONE, {"seed": 7, "images": 2}, files=files)
    return "seed 7"


EVENTS: dict[str, Callable[[Trial], Awaitable[str]]] = {
    "failed": failed_training,
    "started": training_started,
    "preview": preview,
    "pictures": pictures,
}


def crash_once(
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    name: str,
    *,
    after: bool = False,
    when: Callable[..., bool] = lambda *args, **kwargs: True,
) -> None:
    """The next call of ``target.name`` that ``when`` picks crashes: before doing anything,
    or ``after`` it did its work."""
    original = getattr(target, name)
    crashed = False

    async def crashing(*args: Any, **kwargs: Any) -> Any:
        nonlocal crashed
        if crashed or not when(*args, **kwargs):
            return await original(*args, **kwargs)
        crashed = True
        if after:
            await original(*args, **kwargs)
        raise Crash(f"killed at {name}")

    monkeypatch.setattr(target, name, crashing)


def posted(db: Database, event_id: int, message_id: int | None = None) -> bool:
    """A mark that records a posted message (not one of the events shown as nothing)."""
    return message_id is not None


CRASH_POINTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    # Discord never saw the message.
    "before-send": lambda m: crash_once(m, discord.PartialMessageable, "send"),
    # Discord accepted the message; the database never heard of it.
    "after-send-before-mark": lambda m: crash_once(m, events, "mark_delivered", when=posted),
    # Both happened; the bot died right after.
    "after-mark": lambda m: crash_once(m, events, "mark_delivered", after=True, when=posted),
}


@pytest.fixture
async def second_db(settings: Settings) -> AsyncIterator[Database]:
    """The restarted process's own connection to the same file, once the dead process's
    outbox claims ran out (a killed bot releases nothing): its clock is that much later."""
    later = settings.delivery_claim_seconds + 1
    path = settings.database_path
    async with await Database.open(path, clock=lambda: time.time() + later) as database:
        yield database


async def restart(t: Trial, second_db: Database) -> None:
    """A new bot process over the same SQLite file."""
    await t.env.restart_bot(PetBooth(t.settings, second_db))


def matching(world: World, text: str) -> list[discord.Message]:
    return [m for m in bot_messages(world.channel) if text in m.content]


@pytest.mark.bot_errors_expected  # the crash itself; checked below to be the only error
@pytest.mark.parametrize("point", list(CRASH_POINTS))
@pytest.mark.parametrize("kind", list(EVENTS))
async def test_killed_while_delivering_then_restarted_delivers_exactly_once(
    kind: str, point: str, trial: Trial, second_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, env = trial.world, trial.env
    text = await EVENTS[kind](trial)
    before = len(bot_messages(world.channel))
    CRASH_POINTS[point](monkeypatch)

    await poll(env)  # the delivery that dies
    assert [type(e) for e in env.errors] in ([], [Crash])
    await restart(trial, second_db)
    await poll(env)
    await poll(env)

    assert len(matching(world, text)) == 1, [m.content for m in bot_messages(world.channel)]
    assert len(bot_messages(world.channel)) == before + 1
    assert await events.undelivered(second_db) == []
    assert not [e for e in env.errors if not isinstance(e, Crash)]


async def test_a_failed_mark_is_retried_without_posting_again(
    trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No crash: the database write after the send fails once (locked, disk full) and the
    same bot tries again at its next poll."""
    world, db, env = trial.world, trial.db, trial.env
    text = await failed_training(trial)
    original = events.mark_delivered
    failed = False

    async def flaky(*args: Any, **kwargs: Any) -> bool:
        nonlocal failed
        if posted(*args, **kwargs) and not failed:
            failed = True
            raise OSError("database is locked")
        return await original(*args, **kwargs)

    monkeypatch.setattr(events, "mark_delivered", flaky)
    await poll(env)
    await poll(env)

    assert len(matching(world, text)) == 1
    assert await events.undelivered(db) == []


@pytest.mark.bot_errors_expected  # the crash itself
async def test_every_send_carries_the_events_own_nonce(
    trial: Trial, second_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Discord (not simcord) drops a second message with the same nonce for a few
    minutes (discord.py sends ``enforce_nonce``): a retry after a lost response is free."""
    nonces: list[object] = []
    original = discord.PartialMessageable.send

    async def recording(self: discord.PartialMessageable, *args: Any, **kwargs: Any) -> Any:
        nonces.append(kwargs.get("nonce"))
        if len(nonces) == 1:
            raise Crash("response lost")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(discord.PartialMessageable, "send", recording)
    await failed_training(trial)
    await poll(trial.env)
    await restart(trial, second_db)
    await poll(trial.env)

    assert len(nonces) == 2 and nonces[0] == nonces[1] and nonces[0] is not None
    assert len(str(nonces[0])) <= 25  # Discord's cap on a nonce
    assert not [e for e in trial.env.errors if not isinstance(e, Crash)]
