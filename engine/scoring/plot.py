"""The ready message's chart: likeness and prompt fidelity against step, the step in use
marked. matplotlib's Agg canvas, created here, never pyplot: no global figure state and no
display needed on a server."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.store import CheckpointScore

_SIZE_INCHES, _DPI = (5.0, 3.0), 96  # 480 x 288 px: legible inline in Discord, ~30 KB
_LIKENESS, _PROMPT = "tab:blue", "tab:orange"


def plot_scores(scores: Sequence[CheckpointScore], marked: int | None, path: Path) -> Path:
    """Write the chart to `path` (whole or not at all) and return it. Likeness (DINO) is on
    the left axis, prompt fidelity (CLIP-T) on the right: their ranges differ tenfold."""
    steps = [s.step for s in scores]
    figure = Figure(figsize=_SIZE_INCHES, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    likeness = figure.add_subplot()
    likeness.plot(steps, [s.identity for s in scores], "o-", color=_LIKENESS)
    likeness.set_xlabel("training step")
    likeness.set_ylabel("likeness (DINO)", color=_LIKENESS)
    prompt = likeness.twinx()
    prompt.plot(steps, [s.clip_text for s in scores], "s--", color=_PROMPT)
    prompt.set_ylabel("prompt fidelity (CLIP-T)", color=_PROMPT)
    if marked is not None:
        likeness.axvline(marked, color="tab:green", linewidth=2, alpha=0.6)
        likeness.annotate(
            f"step {marked}",
            (marked, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -12),
            textcoords="offset points",
            color="tab:green",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    figure.savefig(temporary, format="png")
    os.replace(temporary, path)
    return path
