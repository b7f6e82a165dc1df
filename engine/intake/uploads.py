"""The values that go in and come out of photo intake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from engine.settings import Settings


@dataclass(frozen=True)
class Upload:
    """A file as the bot or CLI received it. `filename` is untrusted: it is only ever shown
    (after sanitising), never used as a path."""

    filename: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class IntakeLimits:
    """Intake limits; the defaults mirror `Settings` (which says why each is what it is)."""

    min_photos: int = 5
    max_photos: int = 20
    recommended_min_photos: int = 10
    min_side: int = 512
    max_file_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_zip_bytes: int = 200 * 1024 * 1024
    max_zip_members: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeLimits:
        return cls(
            min_photos=settings.min_photos,
            max_photos=settings.max_photos,
            recommended_min_photos=settings.recommended_min_photos,
            min_side=settings.min_photo_side,
            max_file_bytes=settings.max_file_bytes,
            max_image_pixels=settings.max_image_pixels,
            max_zip_bytes=settings.max_zip_bytes,
            max_zip_members=settings.max_zip_members,
        )


@dataclass(frozen=True)
class IncomingFile:
    """One file waiting to be decoded: a direct upload or a member unpacked from a zip.
    `display_name` is already sanitised."""

    display_name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class AcceptedPhoto:
    source_name: str  # display-safe uploaded name, e.g. "thor.zip/IMG_1.jpg"
    stored_name: str  # generated, e.g. "photo-03-1a2b3c4d.jpg"; never derived from the upload
    sha256: str  # of the original uploaded bytes
    # Decoded, oriented, RGB, long side <= 2048. Not compared: equality is by the fields above.
    image: Image.Image = field(repr=False, compare=False)
    width: int
    height: int


@dataclass(frozen=True)
class Rejection:
    filename: str  # display-safe uploaded name
    reason: str  # short and specific, for a person


@dataclass(frozen=True)
class IntakeResult:
    accepted: list[AcceptedPhoto]
    rejected: list[Rejection]
    warnings: list[str]
    problem: str | None  # set when the whole set is unusable (too few or too many photos)

    @property
    def ok(self) -> bool:
        return self.problem is None
