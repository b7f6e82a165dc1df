"""A store on a real SQLite file and on a real PostgreSQL database (every test runs on
both), whose clock the test moves by hand."""

from __future__ import annotations

import pytest

from engine.store import Database
from tests.engine.store._clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(store_target, clock: FakeClock):
    database = await Database.open(store_target, clock=clock)
    yield database
    await database.close()
