"""Which engines are running now: those whose heartbeat is fresh.

A killed engine (SIGKILL, a lost machine) leaves its row behind, so a row alone proves
nothing; only a recent heartbeat does. Torch-free: the bot asks before promising an ETA.
"""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Database, EngineHealth, engines

# An engine beats every `heartbeat_seconds` (10 s); three missed beats in a row is no longer
# a slow event loop (a blocking step, a slow disk) but an engine that is gone.
FRESH_HEARTBEATS = 3


def is_live(engine: EngineHealth, now: float, heartbeat_seconds: float) -> bool:
    """The one rule: an engine is alive while its last heartbeat is within FRESH_HEARTBEATS
    heartbeat periods. /status, `petbooth status` and the bot's promises all ask this."""
    return now - engine.heartbeat_at <= FRESH_HEARTBEATS * heartbeat_seconds


async def live_engines(db: Database, settings: Settings) -> list[EngineHealth]:
    """Engines that sent a heartbeat within FRESH_HEARTBEATS heartbeat periods."""
    now = await db.current_time()  # heartbeats are stamped by the database's clock
    return [
        engine
        for engine in await engines.all_engines(db)
        if is_live(engine, now, settings.heartbeat_seconds)
    ]
