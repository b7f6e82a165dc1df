"""Scenarios that drive the real bot use the same fixtures as tests/bot (_fixtures.py)."""

from tests.bot._fixtures import db, env, settings, trial, world

__all__ = ["db", "env", "settings", "trial", "world"]
