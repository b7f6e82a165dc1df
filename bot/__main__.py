"""``python -m bot`` / ``petbooth bot``: build settings and the database once, run the bot."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from engine.logs import LogFormat, configure_logging
from engine.settings import MISSING_TOKEN, Settings


def main(sync_commands: bool = False, settings: Settings | None = None) -> int:
    settings = settings if settings is not None else Settings()
    if not settings.has_discord_token:
        print(MISSING_TOKEN, file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, sync_commands))
    except KeyboardInterrupt:
        return 130


async def _run(settings: Settings, sync_commands: bool) -> int:
    # Imported here so `petbooth --help` and the missing-token path stay instant.
    import discord

    from bot.client import make_bot
    from engine.store import Database

    assert settings.discord_token is not None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with await Database.open(settings.database_target) as db:
        bot = make_bot(settings, db, sync_commands=sync_commands)
        try:
            async with bot:
                await bot.start(settings.discord_token.get_secret_value())
        except discord.LoginFailure:
            print(
                "Discord refused the token in PETBOOTH_DISCORD_TOKEN. Reset it in the "
                "developer portal (Bot -> Reset Token) and update .env.",
                file=sys.stderr,
            )
            return 1
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "--sync-commands", action="store_true", help="register the slash commands, then run"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse(None)
    # `petbooth run` passes its --log-format on in PETBOOTH_LOG_FORMAT.
    log_format: LogFormat = "json" if os.environ.get("PETBOOTH_LOG_FORMAT") == "json" else "text"
    configure_logging(logging.INFO if args.verbose else logging.WARNING, log_format)
    sys.exit(main(sync_commands=args.sync_commands))
