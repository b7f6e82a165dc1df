"""Attachments in, ``Upload``s out: sizes are checked against the cap before any byte is
downloaded, so a 2 GB file costs nothing but a line in the reply."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from engine.intake import Rejection, Upload, sanitize_display_name
from engine.intake.sizes import sizes_apart


@dataclass(frozen=True)
class Downloaded:
    uploads: list[Upload]
    refused: list[Rejection]  # over the size cap or unreadable, by display-safe name


# By name too: Discord leaves some files without a content type, or with
# application/octet-stream (HEIC from some clients). Intake judges the bytes either way.
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif")


def is_photo_or_zip(attachment: discord.Attachment) -> bool:
    """Worth downloading for the "Train a pet" message command: a photo (any image/ type,
    HEIC/HEIF and AVIF included) or a .zip."""
    content_type = (attachment.content_type or "").lower()
    name = attachment.filename.lower()
    return (
        content_type.startswith("image/")
        or "zip" in content_type
        or name.endswith((*PHOTO_EXTENSIONS, ".zip"))
    )


def over_the_limit(size: int, limit: int) -> str:
    """ "26.3 MB is over the 25 MB limit per file"."""
    shown, allowed = sizes_apart(size, limit)
    return f"{shown} is over the {allowed} limit per file"


async def download(attachments: Sequence[discord.Attachment], max_file_bytes: int) -> Downloaded:
    wanted: list[discord.Attachment] = []
    refused: list[Rejection] = []
    for attachment in attachments:
        if attachment.size > max_file_bytes:
            refused.append(
                Rejection(
                    sanitize_display_name(attachment.filename),
                    over_the_limit(attachment.size, max_file_bytes),
                )
            )
        else:
            wanted.append(attachment)
    results = await asyncio.gather(*(a.read() for a in wanted), return_exceptions=True)
    uploads: list[Upload] = []
    for attachment, result in zip(wanted, results, strict=True):
        name = sanitize_display_name(attachment.filename)
        if isinstance(result, bytes):
            uploads.append(Upload(filename=attachment.filename, data=result))
        elif isinstance(result, discord.HTTPException | discord.NotFound):
            refused.append(Rejection(name, "could not be downloaded from Discord; upload again"))
        else:
            raise result
    return Downloaded(uploads, refused)
