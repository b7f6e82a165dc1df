"""Engine liveness, for /status: one row per engine process, refreshed by its heartbeat."""

from __future__ import annotations

from engine.store.database import Database
from engine.store.records import EngineHealth


async def beat(
    db: Database,
    engine_id: str,
    pid: int,
    device: str,
    job_id: int | None,
    loading: bool = False,
) -> None:
    """`loading`: the engine is loading its model while idle (it claims nothing until then)."""
    async with db.transaction() as tx:
        await tx.execute(
            """INSERT INTO engines
                   (engine_id, pid, device, started_at, heartbeat_at, job_id, loading)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (engine_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,
                                                    device = excluded.device,
                                                    job_id = excluded.job_id,
                                                    loading = excluded.loading""",
            (engine_id, pid, device, tx.now, tx.now, job_id, int(loading)),
        )


async def remove(db: Database, engine_id: str) -> None:
    await db.execute("DELETE FROM engines WHERE engine_id = ?", (engine_id,))


async def all_engines(db: Database) -> list[EngineHealth]:
    rows = await db.fetch_all("SELECT * FROM engines ORDER BY heartbeat_at DESC")
    return [EngineHealth.from_row(r) for r in rows]


async def forget_silent(db: Database, silent_for_seconds: float) -> int:
    """Drop rows of engines that stopped beating (killed, not shut down cleanly)."""
    async with db.transaction() as tx:
        return await tx.rowcount(
            "DELETE FROM engines WHERE heartbeat_at < ?", (tx.now - silent_for_seconds,)
        )
