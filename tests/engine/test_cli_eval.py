"""`petbooth eval NAME [--json]`: a pet's checkpoint scores and its recommended step, read
from SQLite (no torch, no engine)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.settings import Settings
from engine.store import Database, JobKind, endings, jobs, scores, subjects

CHECKPOINTS = {2: (0.41, 0.71, 0.301), 4: (0.55, 0.74, 0.296), 6: (0.63, 0.77, 0.24)}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env of the machine's
    for name in ("PETBOOTH_DATABASE", "PETBOOTH_SCORING__PROMPT_MARGIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PETBOOTH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


async def _train(db: Database, owner: int, finish: bool) -> None:
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=owner, name="thor", class_noun="cat")
        job_id = await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=owner, subject_id=pet.id)
    assert await jobs.claim_next(db, "gpu-0", 60) is not None
    async with db.transaction() as tx:
        for step, (identity, clip_image, clip_text) in CHECKPOINTS.items():
            await scores.record_tx(
                tx, job_id, step, identity=identity, clip_image=clip_image, clip_text=clip_text
            )
    if finish:
        await endings.succeed(db, job_id, "gpu-0", {}, lora_path="x", recommended_step=4)


def trained(data: Path, owner: int = 7, finish: bool = True) -> None:
    async def seed() -> None:
        async with await Database.open(Settings(_env_file=None).database_path) as db:
            await _train(db, owner, finish)

    asyncio.run(seed())


def test_eval_prints_every_checkpoint_and_the_recommendation(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trained(data)

    assert main(["eval", "thor"]) == 0

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("thor (cat, owner 7): ready, training job 1, 3 checkpoint(s)")
    rows = [line.split() for line in lines[2:5]]
    assert [row[:4] for row in rows] == [
        ["2", "0.4100", "0.7100", "0.3010"],
        ["4", "0.5500", "0.7400", "0.2960"],
        ["6", "0.6300", "0.7700", "0.2400"],
    ]
    assert "<- recommended" in lines[3] and "recommended" not in lines[2] + lines[4]
    assert "Recommended: step 4" in out and "within 0.02 of the best" in out
    assert "Model in use: step 4, recommended: best likeness" in out


def test_eval_json_parses(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trained(data)

    assert main(["eval", "thor", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["recommended_step"] == 4
    assert report["in_use"] == {
        "step": 4,
        "reason": "recommended",
        "text": "step 4, recommended: best likeness",
    }
    assert [c["step"] for c in report["checkpoints"]] == [2, 4, 6]
    assert report["checkpoints"][0] == {
        "step": 2,
        "identity": 0.41,
        "clip_image": 0.71,
        "clip_text": 0.301,
    }


def test_a_pet_still_training_shows_the_best_step_so_far(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trained(data, finish=False)
    assert main(["eval", "thor"]) == 0
    out = capsys.readouterr().out
    assert "Recommended so far: step 4" in out and "Model in use: final step" in out


def test_an_unknown_or_ambiguous_name_says_what_to_do(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "thor"]) == 1
    assert "No pet named 'thor'." in capsys.readouterr().err

    trained(data, owner=7)
    trained(data, owner=8)
    assert main(["eval", "thor"]) == 1
    assert "owners 7, 8): add --owner ID" in capsys.readouterr().err
    assert main(["eval", "thor", "--owner", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["owner_id"] == 8
