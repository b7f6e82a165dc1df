"""Unpacking a .zip of photos without trusting its names or its declared sizes."""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator

from engine.intake.filenames import member_display_name
from engine.intake.sizes import megabytes, sizes_apart
from engine.intake.uploads import IncomingFile, IntakeLimits, Rejection

log = logging.getLogger(__name__)

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
_ARCHIVE_MAGIC = {
    b"PK\x03\x04": "zip",
    b"PK\x05\x06": "zip",
    b"Rar!": "RAR",
    b"7z\xbc\xaf": "7z",
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
}
_ARCHIVE_EXTENSIONS = (".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz")
# Files that archivers and desktops add on their own; nobody meant to upload them.
_SYSTEM_FILES = ("thumbs.db", "desktop.ini")
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_ENCRYPTED_FLAG = 0x1


def is_zip(data: bytes) -> bool:
    """By magic bytes: an extension says nothing about what a file is."""
    return data[:4] in ZIP_MAGIC


def archive_kind(data: bytes) -> str | None:
    """ "zip", "RAR", "7z"... when `data` starts like an archive, else None."""
    for magic, kind in _ARCHIVE_MAGIC.items():
        if data.startswith(magic):
            return kind
    return None


def expand_zip(
    archive_name: str, data: bytes, limits: IntakeLimits
) -> Iterator[IncomingFile | Rejection]:
    """Each photo-like member in archive order, or a Rejection naming the member (or, for a
    problem with the whole archive, the archive)."""
    if len(data) > limits.max_zip_bytes:
        yield Rejection(archive_name, _too_large_archive(len(data), limits))
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not _is_skipped(info)]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        log.info("unreadable zip %s: %r", archive_name, error)
        yield Rejection(archive_name, "damaged zip archive (could not read it)")
        return
    with archive:
        problem = _archive_problem(members, limits)
        if problem is not None:
            yield Rejection(archive_name, problem)
            return
        budget = limits.max_zip_bytes  # actual bytes still allowed, whatever headers claim
        for info in members:
            display_name = member_display_name(archive_name, info.filename)
            result = _read_member(archive, info, display_name, limits, budget)
            if isinstance(result, IncomingFile):
                budget -= len(result.data)
            yield result


def _archive_problem(members: list[zipfile.ZipInfo], limits: IntakeLimits) -> str | None:
    if not members:
        return "zip archive contains no files"
    if len(members) > limits.max_zip_members:
        return f"zip archive has {len(members)} files; at most {limits.max_zip_members} allowed"
    declared_total = sum(info.file_size for info in members)
    if declared_total > limits.max_zip_bytes:
        return _too_large_archive(declared_total, limits)
    return None


def _read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    display_name: str,
    limits: IntakeLimits,
    budget: int,
) -> IncomingFile | Rejection:
    reason = _member_name_problem(info.filename)
    if reason is None and info.flag_bits & _ENCRYPTED_FLAG:
        reason = "password-protected zip member; send an unencrypted archive"
    if reason is None and info.file_size > limits.max_file_bytes:
        reason = _too_large_file(info.file_size, limits)
    if reason is not None:
        return Rejection(display_name, reason)
    cap = min(limits.max_file_bytes, budget)
    try:
        with archive.open(info) as member:
            # Read one byte past the cap, so a header that lies about the size cannot make
            # us hold more than the cap in memory (zip bomb).
            data = member.read(cap + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        log.info("unreadable zip member %s: %r", display_name, error)
        return Rejection(display_name, "damaged zip member (could not unpack it)")
    if len(data) > cap:
        if cap < limits.max_file_bytes:
            over_budget = f"zip archive unpacks to more than {megabytes(limits.max_zip_bytes)}"
            return Rejection(display_name, over_budget)
        return Rejection(display_name, _too_large_file(len(data), limits))
    if archive_kind(data) is not None:
        return Rejection(display_name, "nested archives are not accepted")
    return IncomingFile(display_name, data)


def _member_name_problem(name: str) -> str | None:
    normalised = name.replace("\\", "/")
    parts = normalised.split("/")
    if normalised.startswith("/") or _DRIVE_LETTER.match(normalised) or ".." in parts:
        return "zip member escapes the archive"
    if normalised.lower().endswith(_ARCHIVE_EXTENSIONS):
        return "nested archives are not accepted"
    return None


def _is_skipped(info: zipfile.ZipInfo) -> bool:
    """Directories, macOS resource forks (__MACOSX/), dotfiles and desktop litter."""
    if info.is_dir():
        return True
    parts = [part for part in info.filename.replace("\\", "/").split("/") if part not in ("", ".")]
    if not parts:
        return True
    if parts[0] == "__MACOSX" or any(_is_dotfile(part) for part in parts):
        return True
    return parts[-1].lower() in _SYSTEM_FILES


def _is_dotfile(part: str) -> bool:
    return part.startswith(".") and part != ".."  # ".." is traversal, reported, not skipped


def _too_large_file(size: int, limits: IntakeLimits) -> str:
    return "file too large: {}, limit {}".format(*sizes_apart(size, limits.max_file_bytes))


def _too_large_archive(size: int, limits: IntakeLimits) -> str:
    return (
        f"zip archive too large: unpacks to {megabytes(size)}, "
        f"limit {megabytes(limits.max_zip_bytes)}"
    )
