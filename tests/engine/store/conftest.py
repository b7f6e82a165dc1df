"""A store on a real SQLite file whose clock the test moves by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import Database
from tests.engine.store._clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(tmp_path: Path, clock: FakeClock):
    database = await Database.open(tmp_path / "q.sqlite3", clock=clock)
    yield database
    await database.close()
