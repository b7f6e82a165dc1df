"""`petbooth run --log-format json`: every child it starts logs in the same format."""

from __future__ import annotations

from pathlib import Path

from engine.operations.supervisor import plan_children
from engine.settings import Settings


def test_children_log_in_the_format_petbooth_run_was_given(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)

    children = plan_children(settings, with_bot=True, gpus=["0", "1"], log_format="json")

    assert [(c.name, c.env["PETBOOTH_LOG_FORMAT"]) for c in children] == [
        ("bot", "json"),
        ("engine-0", "json"),
        ("engine-1", "json"),
    ]
    assert all(c.env["PETBOOTH_LOG_FORMAT"] == "text" for c in plan_children(settings, True, []))
