"""validate_uploads: every uploaded file ends up accepted or rejected with a reason."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from engine.intake.archive import archive_kind, expand_zip, is_zip
from engine.intake.decode import PhotoRejected, check_file_size, decode_photo
from engine.intake.duplicates import difference_hash, is_near_duplicate
from engine.intake.filenames import sanitize_display_name, stored_photo_name
from engine.intake.uploads import (
    AcceptedPhoto,
    IncomingFile,
    IntakeLimits,
    IntakeResult,
    Rejection,
    Upload,
)

SEED_RECOMMENDED_MAX_PHOTOS = 15  # the seed write-up recommends 10-15 photos


def validate_uploads(uploads: Sequence[Upload], limits: IntakeLimits) -> IntakeResult:
    """Decode and check every upload (zips unpacked), in input order, then judge the set."""
    accepted: list[AcceptedPhoto] = []
    rejected: list[Rejection] = []
    hashes: list[int] = []  # difference_hash of accepted[i]
    for item in _incoming_files(uploads, limits):
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        try:
            photo, image_hash = _accept(item, accepted, hashes, limits)
        except PhotoRejected as rejection:
            rejected.append(Rejection(item.display_name, str(rejection)))
            continue
        accepted.append(photo)
        hashes.append(image_hash)
    count = len(accepted)
    return IntakeResult(
        accepted=accepted,
        rejected=rejected,
        warnings=_count_warnings(count, limits),
        problem=_count_problem(count, limits),
    )


def _incoming_files(
    uploads: Sequence[Upload], limits: IntakeLimits
) -> Iterator[IncomingFile | Rejection]:
    for upload in uploads:
        name = sanitize_display_name(upload.filename)
        if is_zip(upload.data):
            yield from expand_zip(name, upload.data, limits)
        elif (kind := archive_kind(upload.data)) is not None:
            yield Rejection(name, f"{kind} archives are not accepted; send a .zip or the photos")
        else:
            yield IncomingFile(name, upload.data)


def _accept(
    item: IncomingFile, accepted: list[AcceptedPhoto], hashes: list[int], limits: IntakeLimits
) -> tuple[AcceptedPhoto, int]:
    check_file_size(item.data, limits)
    sha256 = hashlib.sha256(item.data).hexdigest()
    for earlier in accepted:  # exact copies first: cheaper and a clearer message
        if earlier.sha256 == sha256:
            raise PhotoRejected(f"duplicate of {earlier.source_name}")
    image = decode_photo(item.data, limits)
    image_hash = difference_hash(image)
    for earlier, earlier_hash in zip(accepted, hashes, strict=True):
        if is_near_duplicate(image_hash, earlier_hash):
            raise PhotoRejected(f"near-duplicate of {earlier.source_name}")
    photo = AcceptedPhoto(
        source_name=item.display_name,
        stored_name=stored_photo_name(len(accepted) + 1, sha256),
        sha256=sha256,
        image=image,
        width=image.width,
        height=image.height,
    )
    return photo, image_hash


def _count_problem(count: int, limits: IntakeLimits) -> str | None:
    if count < limits.min_photos:
        usable = "No usable photos" if count == 0 else _plural(count, "usable photo")
        return (
            f"{'Only ' if count else ''}{usable}; at least {limits.min_photos} "
            f"{'is' if limits.min_photos == 1 else 'are'} needed ({_recommended(limits)} "
            "works best)."
        )
    if count > limits.max_photos:
        return f"{_plural(count, 'photo')}; at most {limits.max_photos} are accepted."
    return None


def _count_warnings(count: int, limits: IntakeLimits) -> list[str]:
    if limits.min_photos <= count < limits.recommended_min_photos:
        return [
            f"{_plural(count, 'photo')} accepted; {_recommended(limits)} varied photos "
            "usually give a better likeness."
        ]
    return []


def _recommended(limits: IntakeLimits) -> str:
    """ "10-15", or "20+" when settings recommend more than the seed's upper end."""
    low = limits.recommended_min_photos
    return (
        f"{low}-{SEED_RECOMMENDED_MAX_PHOTOS}" if low < SEED_RECOMMENDED_MAX_PHOTOS else f"{low}+"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
