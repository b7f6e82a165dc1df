"""An engine that finds the queue empty loads its pipeline while it waits, saying so in its
engines row; a shutdown during that load ends the engine at once, not after the load."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

from engine.generation.resident import ResidentPipeline
from engine.process import Engine
from engine.settings import Settings
from engine.store import Database, engines


class SlowLoad:
    """A stand-in for ResidentPipeline whose weights take until `release` to load (SDXL's
    first download takes minutes)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.loaded = False

    def warm_up(self) -> None:
        self.release.wait(timeout=60)
        self.loaded = True


async def loading_rows(db: Database) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetch_all("SELECT engine_id, loading FROM engines")]


async def test_a_shutdown_while_loading_ends_the_engine_without_waiting(
    db: Database, settings: Settings
) -> None:
    # An earlier life of this engine id (a container restarted with the same hostname and
    # pid) left its row: this start is not that one's.
    await engines.beat(db, "gpu-0", pid=7, device="cpu", job_id=None)
    await db.execute("UPDATE engines SET started_at = started_at - 3600")
    slow = SlowLoad()
    engine = Engine(settings, db, "gpu-0", cast(ResidentPipeline, slow))
    running = asyncio.create_task(engine.run())
    try:
        for _ in range(200):
            if await loading_rows(db) == [("gpu-0", 1)]:
                break
            await asyncio.sleep(0.05)
        assert await loading_rows(db) == [("gpu-0", 1)]  # /status: "loading its model"
        [started] = [r[0] for r in await db.fetch_all("SELECT started_at FROM engines")]
        assert await db.current_time() - started < 60

        engine.shutdown()
        await asyncio.wait_for(running, timeout=5)

        assert not slow.loaded  # the load was left behind, not waited for
        assert await loading_rows(db) == []  # a clean exit removes the row
    finally:
        slow.release.set()
        engine.shutdown()
        await asyncio.wait_for(running, timeout=10)  # never left running past the test
