"""/pets' embeds: one per pet, its contact sheet as the thumbnail and its latest pictures
as the image (one picture as it is, several as a grid of thumbnails), as many files as one
message carries."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import discord
from PIL import Image

from bot.delivery.render import scores_text
from bot.pets._listing import PetCard
from bot.utils.format import safe
from bot.utils.paths import fetched_file
from engine.intake.crops import contact_sheet
from engine.storage import Storage

MAX_EMBEDS = 10  # Discord's embeds per message
MAX_FILES = 10  # and attachments
TILE_PX = 256  # a picture's side in the grid of a pet's latest pictures


@dataclass
class Cards:
    embeds: list[discord.Embed] = field(default_factory=list)
    # (a file, or an image made here, and its name in Discord)
    paths: list[tuple[Path | bytes, str]] = field(default_factory=list)
    more: int = 0  # pets left out past MAX_EMBEDS

    def files(self) -> list[discord.File]:
        return [
            discord.File(io.BytesIO(shown) if isinstance(shown, bytes) else shown, filename=name)
            for shown, name in self.paths
        ]


def pet_embed(card: PetCard) -> discord.Embed:
    subject = card.subject
    embed = discord.Embed(
        title=f"{safe(subject.name)} ({safe(subject.class_noun)})",
        description=f"{card.state} · {card.photos} photos",
    )
    if card.in_use is not None:
        scored = scores_text(card.scores)
        embed.add_field(
            name="Model in use",
            value=card.in_use.describe() + (f" ({scored})" if scored else ""),
            inline=False,
        )
    return embed


def build_cards(storage: Storage, cards: list[PetCard], limit_bytes: int) -> Cards:
    """Embeds and the files they show, within Discord's counts and the upload limit.
    Blocking (files may come from storage): run it on a thread."""
    built = Cards(more=max(0, len(cards) - MAX_EMBEDS))
    used = 0
    for card in cards[:MAX_EMBEDS]:
        embed = pet_embed(card)
        shown = (
            (_sheet, "sheet", embed.set_thumbnail),
            (_latest, "latest", embed.set_image),
        )
        for find, label, show in shown:
            if len(built.paths) >= MAX_FILES:
                continue  # no room: fetch nothing
            found = find(storage, card)
            if found is None:
                continue
            content, suffix = found
            size = len(content) if isinstance(content, bytes) else content.stat().st_size
            if used + size > limit_bytes:
                continue
            name = f"pet{card.subject.id}-{label}{suffix}"
            built.paths.append((content, name))
            used += size
            show(url=f"attachment://{name}")
        built.embeds.append(embed)
    return built


def _sheet(storage: Storage, card: PetCard) -> tuple[Path, str] | None:
    path = fetched_file(storage, card.contact_sheet) if card.contact_sheet else None
    return (path, path.suffix) if path is not None else None


def _latest(storage: Storage, card: PetCard) -> tuple[Path | bytes, str] | None:
    """The pet's latest picture as it is, or its latest pictures as one grid."""
    paths = [p for key in card.last_pictures if (p := fetched_file(storage, key)) is not None]
    if len(paths) <= 1:
        return (paths[0], paths[0].suffix) if paths else None
    return grid(paths), ".jpg"


def grid(paths: list[Path]) -> bytes:
    """Up to four pictures as a contact sheet of TILE_PX tiles, two to a row, as a JPEG."""
    out = io.BytesIO()
    contact_sheet([_picture(path) for path in paths], tile=TILE_PX, columns=2).save(
        out, format="JPEG", quality=88
    )
    return out.getvalue()


def _picture(path: Path) -> Image.Image:
    """The picture, or an empty tile where the file no longer reads as one."""
    try:
        with Image.open(path) as picture:
            return picture.convert("RGB")
    except OSError:
        return Image.new("RGB", (TILE_PX, TILE_PX))
