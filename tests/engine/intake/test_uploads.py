"""The values that go in and come out of intake: limits from the settings."""

from __future__ import annotations

from engine.intake import IntakeLimits
from engine.settings import Settings


def test_limits_come_from_settings() -> None:
    settings = Settings(min_photos=3, max_photos=9, min_photo_side=256, max_zip_members=7)

    limits = IntakeLimits.from_settings(settings)

    assert (limits.min_photos, limits.max_photos, limits.min_side) == (3, 9, 256)
    assert limits.max_zip_members == 7 and limits.max_file_bytes == settings.max_file_bytes
