"""A bot process that only delivers: the real ``Delivery`` cog of a real discord.py client,
logged in to ``_fake_discord`` over HTTP (no gateway), polling the outbox until killed.

``python -m tests.system._delivery_bot DATABASE BASE_URL LEASE_SECONDS [DIE_AFTER]``
prints ``ready`` once logged in. With DIE_AFTER = n, the process SIGKILLs itself right
after Discord accepted its n-th message and before the store heard of it: the crash that
leaves an event posted but undelivered."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import discord

from bot.client import PetBooth
from bot.delivery._cog import Delivery
from engine.settings import Settings
from engine.store import Database, events
from tests.system._fake_discord import TOKEN

POLL_SECONDS = 0.05


def die_after_posting(count: int) -> None:
    """SIGKILL this process when the store is about to record its ``count``-th message."""
    original = events.mark_delivered
    posted = 0

    async def recording(db: Database, event_id: int, message_id: int | None = None) -> Any:
        nonlocal posted
        if message_id is not None:
            posted += 1
            if posted == count:
                os.kill(os.getpid(), signal.SIGKILL)
        return await original(db, event_id, message_id)

    events.mark_delivered = recording  # type: ignore[assignment]


async def deliver(database: Path | str, data_dir: Path, base_url: str, lease: float) -> None:
    discord.http.Route.BASE = base_url
    values = {"data_dir": data_dir, "delivery_claim_seconds": lease}
    settings = Settings(_env_file=None, **values)
    async with await Database.open(database) as db:
        bot = PetBooth(settings, db)
        await bot._async_setup_hook()  # what login() does first, without the gateway
        user = await bot.http.static_login(TOKEN)
        bot._connection.user = discord.ClientUser(state=bot._connection, data=user)
        delivery = Delivery(bot)
        print("ready", flush=True)
        try:
            while True:
                await delivery.deliver_pending()
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await bot.http.close()


def main(argv: list[str]) -> None:
    database, data_dir, base_url, lease, *die_after = argv
    if die_after and int(die_after[0]):
        die_after_posting(int(die_after[0]))
    target = database if database.startswith("postgresql") else Path(database)
    asyncio.run(deliver(target, Path(data_dir), base_url, float(lease)))


if __name__ == "__main__":
    main(sys.argv[1:])
