"""``photo1`` … ``photo23`` attachment options, generated rather than typed out 23 times.

Discord has no variadic attachment option and allows 25 options per command; /train spends
two on name and class, so 23 are left for photos (a .zip in any of them counts as many)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import discord

PHOTO_OPTIONS = 23  # 25 options per command, minus name and class
F = TypeVar("F", bound=Callable[..., Any])


def photo_option_names() -> list[str]:
    return [f"photo{i}" for i in range(1, PHOTO_OPTIONS + 1)]


def with_photo_options(func: F) -> F:
    """Replace ``func``'s ``**photos`` with keyword parameters discord.py turns into options:
    ``photo1`` required, the rest optional. The callback still receives them as ``**photos``."""
    signature = inspect.signature(func)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    photos = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=discord.Attachment if i == 0 else discord.Attachment | None,
            default=inspect.Parameter.empty if i == 0 else None,
        )
        for i, name in enumerate(photo_option_names())
    ]
    func.__signature__ = signature.replace(parameters=[*fixed, *photos])  # type: ignore[attr-defined]
    return func


def photo_descriptions() -> dict[str, str]:
    first = {"photo1": "A photo of your pet, or a .zip of 10-15 photos"}
    rest = {name: "Another photo or .zip" for name in photo_option_names()[1:]}
    return first | rest
