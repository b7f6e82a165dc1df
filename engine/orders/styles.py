"""/imagine's styles: a short curated list, each a few words added to the prompt and to the
negative prompt (torch-free). SDXL follows such medium words well; the pet's token stays
where the user put it, so the pet keeps its likeness in every style."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    prompt: str  # appended to the prompt after a comma
    negative: str  # added to the negative prompt: the look this style is not


STYLES: dict[str, Style] = {
    "photo": Style(
        "professional photograph, natural light, sharp focus, 35mm",
        "painting, illustration, drawing, cartoon, 3d render",
    ),
    "watercolour": Style(
        "watercolour painting, soft washes, visible paper texture",
        "photo, photorealistic, 3d render",
    ),
    "oil painting": Style(
        "oil painting, thick visible brush strokes, rich colours",
        "photo, photorealistic, 3d render",
    ),
    "pixel art": Style(
        "pixel art, 16-bit, limited palette, crisp pixels",
        "photo, blurry, smooth gradients",
    ),
    "anime": Style(
        "anime illustration, cel shading, clean line art",
        "photo, photorealistic, 3d render",
    ),
    "3-D render": Style(
        "3d render, animated film style, soft studio lighting",
        "photo, painting, sketch",
    ),
    "pencil sketch": Style(
        "pencil sketch, graphite, cross-hatching, on paper",
        "colour, photo, painting",
    ),
}


def styled(prompt: str, negative: str, style: str | None) -> tuple[str, str]:
    """The prompt and negative prompt with `style`'s words added (unchanged for None)."""
    if style is None:
        return prompt, negative
    chosen = STYLES[style]
    negative = f"{negative}, {chosen.negative}" if negative else chosen.negative
    return f"{prompt}, {chosen.prompt}", negative


def shown_prompts(params: dict[str, object]) -> tuple[str, str] | None:
    """A queued picture's styled prompt and negative prompt as its owner wrote them plus the
    style's words (the pet still written TOK: its token is never shown), or None unstyled."""
    style = params.get("style")
    if not isinstance(style, str):
        return None
    return styled(str(params["raw_prompt"]), str(params["raw_negative_prompt"]), style)
