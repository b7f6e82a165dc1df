"""Attachments in, ``Upload``s out: sizes are checked against the cap before any byte is
downloaded, so a 2 GB file costs nothing but a line in the reply."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from engine.intake import Rejection, Upload, sanitize_display_name
from engine.intake.sizes import megabytes


@dataclass(frozen=True)
class Downloaded:
    uploads: list[Upload]
    refused: list[Rejection]  # over the size cap or unreadable, by display-safe name


def is_photo_or_zip(attachment: discord.Attachment) -> bool:
    content_type = (attachment.content_type or "").lower()
    name = attachment.filename.lower()
    return content_type.startswith("image/") or name.endswith(".zip") or "zip" in content_type


async def download(attachments: Sequence[discord.Attachment], max_file_bytes: int) -> Downloaded:
    wanted: list[discord.Attachment] = []
    refused: list[Rejection] = []
    for attachment in attachments:
        if attachment.size > max_file_bytes:
            refused.append(
                Rejection(
                    sanitize_display_name(attachment.filename),
                    f"{megabytes(attachment.size)} is over the {megabytes(max_file_bytes)} limit "
                    "per file",
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
