"""An engine killed while it draws a checkpoint's preview: the next engine draws that preview
before it trains on, so no checkpoint is ever left without one (real processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine_env import (
    SHORT_LEASE,
    engine_site,
    event_rows,
    petbooth,
    queue_training,
    sigkill_engine_at,
)
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def test_a_preview_cut_short_by_a_kill_is_drawn_on_resume(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # 150 sampling steps per preview image: a second or more in which to kill the engine.
    prompts = json.dumps(["a photo of {token} {cls}", "{token} {cls} in the grass"])
    data, database, env = engine_site(
        tmp_path,
        tiny_model_dir,
        PETBOOTH_TRAINING__PREVIEW_STEPS="150",
        PETBOOTH_TRAINING__VALIDATION_PROMPTS=prompts,
        **SHORT_LEASE,
    )
    job_id = queue_training(env, write_photos(tmp_path / "photos", 5), steps=4, checkpoint_every=2)
    previews = data / "jobs" / str(job_id) / "previews"

    sigkill_engine_at(env, database, "checkpoint", 2)  # the preview starts right after
    assert not (previews / "step-000002.png").exists(), "the preview finished before the kill"
    assert [p["step"] for p in event_rows(database, "preview")] == []

    quick = {**env, "PETBOOTH_TRAINING__PREVIEW_STEPS": "2"}  # the rest need not be slow
    second = petbooth("engine", "--until-idle", env=quick)

    assert second.returncode == 0, second.stdout + second.stderr
    assert [p["step"] for p in event_rows(database, "preview")] == [2, 4]
    assert (previews / "step-000002.png").is_file() and (previews / "step-000004.png").is_file()
    assert sorted(p.name for p in (previews / "step-000002").iterdir()) == ["0.png", "1.png"]
