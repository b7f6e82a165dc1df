"""Text for people: progress bars, and the bounded lists messages are built from."""

from __future__ import annotations

import re
import unicodedata

import discord

MESSAGE_LIMIT = 2000  # Discord's cap on message content
_CODE_SPAN = re.compile(r"`[^`\n]+`")
_SPAN_PLACEHOLDER = "\ue000"  # private use: no text petbooth shows contains it
BAR_WIDTH = 20  # fits a phone screen in a code span


def progress_bar(step: int, total: int, width: int = BAR_WIDTH) -> str:
    fraction = min(max(step / total, 0.0), 1.0) if total > 0 else 0.0
    filled = round(fraction * width)
    return f"`{'█' * filled}{'░' * (width - filled)}` {fraction:.0%}"


def safe(text: str) -> str:
    """User- or engine-supplied text shown verbatim: no markdown, no mass mentions."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def safe_keeping_code(text: str) -> str:
    """Engine-written text for people (a refusal's reasons): its `code spans` render as
    code, as the engine meant; everything between them is escaped like ``safe``, since a
    name or file name inside it may hold markdown. No mass mentions anywhere."""
    # Each span stands aside as a placeholder while the whole text is escaped: a '*' before
    # a span and one after it still pair up (and get escaped) as they would in Discord.
    text = text.replace(_SPAN_PLACEHOLDER, "")  # never in petbooth's text; now never at all
    spans = _CODE_SPAN.findall(text)
    escaped = discord.utils.escape_markdown(_CODE_SPAN.sub(_SPAN_PLACEHOLDER, text))
    parts = escaped.split(_SPAN_PLACEHOLDER)
    shown = [parts[0]]
    for span, after in zip(spans, parts[1:], strict=True):
        shown += [span, after]
    return discord.utils.escape_mentions("".join(shown))


def plain(text: str, limit: int) -> str:
    """Untrusted text without control or format characters (newlines, bidi overrides),
    whitespace collapsed, at most ``limit`` characters. Not yet escaped: see ``safe``."""
    kept = "".join(c for c in text if c.isspace() or not unicodedata.category(c).startswith("C"))
    return clip(" ".join(kept.split()), limit)


def quoted(text: str, limit: int = 40) -> str:
    """Untrusted text inside a `code span`: nothing in it renders or pings, and a backtick
    in it cannot close the span early."""
    shown = discord.utils.escape_mentions(plain(text, limit).replace("`", "'"))
    return f"`{shown or ' '}`"


def bullet_list(lines: list[str], budget: int) -> str:
    """As many ``- line``s as fit in ``budget`` characters, then how many were left out."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        item = f"- {line}"
        rest = len(lines) - index - 1
        reserve = len(f"\n- …and {rest} more") if rest else 0
        if used + len(item) + 1 + reserve > budget:
            out.append(f"- …and {len(lines) - index} more")
            break
        out.append(item)
        used += len(item) + 1
    return "\n".join(out)


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
