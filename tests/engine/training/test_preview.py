"""Where a checkpoint's preview lives: the grid, and its single images beside it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from engine.training.preview import preview_images


def test_preview_images_are_the_singles_beside_the_grid_in_prompt_order(tmp_path: Path) -> None:
    grid = tmp_path / "previews" / "step-000002.png"
    singles = grid.with_suffix("")
    singles.mkdir(parents=True)
    for index in (10, 2, 0, 1):
        Image.new("RGB", (8, 8)).save(singles / f"{index}.png")
    (singles / ".3.png.tmp").write_bytes(b"half a file")

    assert [p.name for p in preview_images(grid)] == ["0.png", "1.png", "2.png", "10.png"]
    assert preview_images(tmp_path / "previews" / "step-000004.png") == []
