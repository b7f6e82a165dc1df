"""`petbooth vary` and `petbooth upscale`: queued from a delivered picture, drawn by the
engine from it (a variation at its size, an upscale at twice it)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from PIL import Image

from engine.cli import main
from engine.settings import Settings
from engine.store import Database, JobKind, endings, jobs
from tests.engine_env import TINY_PICTURES, engine_site, petbooth


@pytest.fixture
def site(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The engine's environment for in-process commands too; returns the data folder."""
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    data, _, env = engine_site(tmp_path, tiny_model_dir, **TINY_PICTURES)
    for name, value in env.items():
        if name.startswith("PETBOOTH_"):
            monkeypatch.setenv(name, value)
    return data


def delivered_picture(settings: Settings) -> int:
    """`petbooth imagine`, then play the engine: its one picture is written and the job done."""

    async def finish() -> int:
        async with await Database.open(settings.database_target) as db:
            job = await jobs.claim_next(db, "gpu-0", 60, (JobKind.GENERATE,))
            assert job is not None
            path = settings.output_dir(job.id) / "image-0.png"
            path.parent.mkdir(parents=True)
            Image.effect_noise((64, 64), 60).convert("RGB").save(path)
            payload = {"images": 1, "width": 64, "height": 64}
            key = path.relative_to(settings.data_dir).as_posix()
            assert await endings.succeed(db, job.id, "gpu-0", payload, [key])
            return job.id

    assert main(["imagine", "a lighthouse at dusk"]) == 0
    return asyncio.run(finish())


def test_vary_and_upscale_queue_jobs_the_engine_draws_from_the_picture(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = delivered_picture(Settings())
    out = tmp_path / "out"
    capsys.readouterr()

    assert main(["vary", str(source), "--strength", "strong", "--out", str(out / "vary")]) == 0
    assert main(["upscale", str(source), "--picture", "1", "--out", str(out / "up")]) == 0
    assert main(["upscale", str(source), "--picture", "2"]) == 1
    printed = capsys.readouterr()
    ran = petbooth("engine", "--until-idle", env=dict(os.environ))

    assert ran.returncode == 0, ran.stderr
    assert len(printed.out.split()) == 2  # the two job ids
    assert f"Variation (strong) of picture 1 of job {source}" in printed.err
    assert f"Job {source} has 1 picture(s): pick a number from 1 to 1." in printed.err
    with Image.open(out / "vary" / "image-0.png") as varied:
        assert varied.size == (64, 64)
    with Image.open(out / "up" / "image-0.png") as upscaled:
        assert upscaled.size == (128, 128)
