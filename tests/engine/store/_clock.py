"""A clock the test moves by hand: `Database.open(..., clock=FakeClock())`."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
