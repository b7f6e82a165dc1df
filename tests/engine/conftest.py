"""An engine's settings over a temporary data folder, and its database (a real SQLite file).
Test modules that need other settings define their own `settings` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.settings import Settings
from engine.store import Database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with await Database.open(settings.database_path) as database:
        yield database
