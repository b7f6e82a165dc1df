"""Validating one upload, and reading the one rejection it is expected to get."""

from __future__ import annotations

from engine.intake import IntakeLimits, IntakeResult, Upload, validate_uploads

ONE_PHOTO_IS_ENOUGH = IntakeLimits(min_photos=1, recommended_min_photos=1)


def only_rejection(result: IntakeResult) -> tuple[str, str]:
    assert len(result.rejected) == 1, result.rejected
    return result.rejected[0].filename, result.rejected[0].reason


def validate_one(filename: str, data: bytes, limits: IntakeLimits = ONE_PHOTO_IS_ENOUGH):
    return validate_uploads([Upload(filename, data)], limits)
