"""Orders against the store on both backends: the limits and name checks are the
read-then-write paths PostgreSQL must make atomic (engine.store's docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.store import Database


@pytest.fixture
async def db(store_target: Path | str) -> AsyncIterator[Database]:
    async with await Database.open(store_target) as database:
        yield database
