"""Names: the display-safe version of an untrusted uploaded name, and the name we store under."""

from __future__ import annotations

import re
import unicodedata

# Long enough for "IMG_20240101_123456789.jpg" inside a zip name, short enough for one line
# of a Discord message.
MAX_DISPLAY_CHARS = 80
_KEPT_EXTENSION_CHARS = 10  # ".jpeg", ".webp": keep a short extension visible when truncating
_WHITESPACE = re.compile(r"\s+")
_STORED_NAME = re.compile(r"photo-\d{2,}-[0-9a-f]{8}\.jpg")


def sanitize_display_name(name: str) -> str:
    """The last path component of `name`, without control or format characters (newlines,
    bidi overrides), whitespace collapsed, at most MAX_DISPLAY_CHARS long. For messages only:
    the bot should still escape Discord markdown and disable mentions."""
    cleaned = "".join(_printable(char) for char in unicodedata.normalize("NFC", name))
    last_component = cleaned.replace("\\", "/").rsplit("/", 1)[-1]
    # "C:evil.png" is a drive-relative Windows path; show only the part after the drive.
    last_component = re.sub(r"^[A-Za-z]:", "", last_component)
    collapsed = _WHITESPACE.sub(" ", last_component).strip()
    if collapsed in ("", ".", ".."):
        return "unnamed file"
    return _shorten(collapsed, MAX_DISPLAY_CHARS)


def member_display_name(archive_name: str, member_name: str) -> str:
    """ "thor.zip/IMG_1.jpg": the archive's display name, then the member's last component."""
    member = sanitize_display_name(member_name)
    archive = _shorten(archive_name, max(MAX_DISPLAY_CHARS - len(member) - 1, 16))
    return f"{archive}/{member}"


def stored_photo_name(index: int, sha256: str) -> str:
    """The name a photo is saved under: chosen by us, so no upload can pick a path."""
    return f"photo-{index:02d}-{sha256[:8]}.jpg"


def is_stored_photo_name(name: str) -> bool:
    return _STORED_NAME.fullmatch(name) is not None


def _printable(char: str) -> str:
    if unicodedata.category(char).startswith("C"):  # Cc, Cf (bidi overrides), Cs, Co, Cn
        return " " if char in "\t\n\r\v\f" else ""
    return char


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    stem, dot, extension = text.rpartition(".")
    if dot and stem and len(extension) < _KEPT_EXTENSION_CHARS:
        tail = f".{extension}"
        return text[: limit - len(tail) - 1] + "…" + tail
    return text[: limit - 1] + "…"
