"""Every bot test drives the real bot through simcord: the fixtures live in _fixtures.py."""

from tests.bot._fixtures import db, env, settings, trial, world

__all__ = ["db", "env", "settings", "trial", "world"]
