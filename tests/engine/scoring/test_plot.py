"""The ready message's chart: a small PNG, written whole."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from engine.scoring.plot import plot_scores
from engine.store import CheckpointScore


def test_the_chart_is_a_small_png(tmp_path: Path) -> None:
    history = [
        CheckpointScore(1, step, identity, 0.8, clip_text, 0.0)
        for step, identity, clip_text in ((100, 0.4, 0.31), (200, 0.6, 0.30), (300, 0.7, 0.25))
    ]
    path = plot_scores(history, 200, tmp_path / "job" / "scores.png")

    with Image.open(path) as chart:
        assert chart.format == "PNG" and chart.size == (480, 288)
    assert path.stat().st_size < 100_000  # a quick upload next to the ready message
    assert [p.name for p in path.parent.iterdir()] == ["scores.png"]  # no temporary left


def test_a_single_unmarked_checkpoint_still_plots(tmp_path: Path) -> None:
    path = plot_scores([CheckpointScore(1, 4, 0.1, 0.2, 0.3, 0.0)], None, tmp_path / "c.png")
    assert path.is_file()
