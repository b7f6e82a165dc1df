"""/pets' embeds: one per pet, its contact sheet as the thumbnail and its latest picture as
the image, as many files as one message carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import discord

from bot.delivery.render import scores_text
from bot.pets._listing import PetCard
from bot.utils.format import safe
from bot.utils.paths import fetched_file
from engine.storage import Storage

MAX_EMBEDS = 10  # Discord's embeds per message
MAX_FILES = 10  # and attachments


@dataclass
class Cards:
    embeds: list[discord.Embed] = field(default_factory=list)
    paths: list[tuple[Path, str]] = field(default_factory=list)  # (file, its name in Discord)
    more: int = 0  # pets left out past MAX_EMBEDS

    def files(self) -> list[discord.File]:
        return [discord.File(path, filename=name) for path, name in self.paths]


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
            (card.contact_sheet, "sheet", embed.set_thumbnail),
            (card.last_picture, "latest", embed.set_image),
        )
        for relative, label, show in shown:
            path = fetched_file(storage, relative) if relative else None
            if path is None or len(built.paths) >= MAX_FILES:
                continue
            size = path.stat().st_size
            if used + size > limit_bytes:
                continue
            name = f"pet{card.subject.id}-{label}{path.suffix}"
            built.paths.append((path, name))
            used += size
            show(url=f"attachment://{name}")
        built.embeds.append(embed)
    return built
