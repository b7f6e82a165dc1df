"""Orders on a real SQLite file: each test module says its settings (the `settings` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.settings import Settings
from engine.store import Database


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with await Database.open(settings.database_path) as database:
        yield database
