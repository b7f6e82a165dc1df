"""What a real `petbooth engine` tells its operator on stderr: one line for each thing that
happens to a job, none of the GPU libraries' noise; with `--log-format json`, one JSON
object a line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from datetime import datetime
from pathlib import Path

import pytest

from tests.engine_env import (
    TINY_PICTURES,
    engine_site,
    petbooth,
    query,
    queue_training,
    start_petbooth,
    wait_until,
)
from tests.samples import write_photos

pytestmark = pytest.mark.slow

# What the libraries printed before: bitsandbytes' missing `kernels`, transformers'
# torchvision notices, huggingface_hub's deprecation, peft's "multiple adapters" warning,
# diffusers' "kept in float32: []" at each cast of the VAE,
# and tqdm bars ("Loading pipeline components...:  14%|█▍  | 1/7").
NOISE = (
    "kernels",
    "torchvision",
    "local_dir_use_symlinks",
    "multiple adapters",
    "kept in float32",
    "%|",
)
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) [\w.]+: ")


def test_a_training_reads_as_one_line_per_event_and_nothing_else(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    _, _, env = engine_site(tmp_path, tiny_model_dir, PETBOOTH_TRAINING__EFFECTIVE_BATCH="1")
    job = queue_training(env, write_photos(tmp_path / "photos", 5), steps=2, checkpoint_every=2)

    ran = petbooth("engine", "--until-idle", env=env)

    assert ran.returncode == 0, ran.stderr
    lines = ran.stderr.splitlines()
    assert [line for line in lines if not TEXT_LINE.match(line)] == []
    assert [noise for noise in NOISE if noise in ran.stderr] == []
    story = [
        rf"job {job} claimed: train for owner 0, pet thor, attempt 1 of 3$",
        rf"job {job}: caching done in \d+\.\d s \(5 photos, 0 class images\)$",
        rf"job {job}: step 1/2, loss \d+\.\d{{4}}, \d+\.\d{{3}} s/step, ETA \d+ s$",
        rf"job {job}: step 2/2, loss \d+\.\d{{4}}, \d+\.\d{{3}} s/step, ETA 0 s$",
        rf"job {job}: checkpoint of step 2 saved in jobs/{job}/checkpoints/step-000002$",
        rf"job {job}: preview of step 2 drawn: 1 picture in \d+\.\d\d s "
        r"\(\d+\.\d\d s each\), written in \d+\.\d\d s$",
        rf"job {job}: preview of step 2 saved in jobs/{job}/previews/step-000002\.png, "
        r"likeness -?\d\.\d\d \(DINO\), CLIP-I -?\d\.\d\d, CLIP-T -?\d\.\d\d$",
        rf"job {job} \(train\) finished: succeeded in \d+\.\d s, "
        r"peak \d+\.\d\d GiB process RSS$",
    ]
    found = [next(i for i, line in enumerate(lines) if re.search(p, line)) for p in story]
    assert found == sorted(found)  # in the order they happened


def test_json_lines_carry_time_level_logger_message_and_the_job(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    _, _, env = engine_site(tmp_path, tiny_model_dir, **TINY_PICTURES)
    queued = petbooth("imagine", "a photo of a cat", "--seed", "1", env=env)
    assert queued.returncode == 0, queued.stderr
    job = int(queued.stdout)

    ran = petbooth("--log-format", "json", "engine", "--until-idle", env=env)

    assert ran.returncode == 0, ran.stderr
    entries = [json.loads(line) for line in ran.stderr.splitlines()]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert [noise for noise in NOISE if noise in ran.stderr] == []
    messages = {entry["message"]: entry.get("job_id") for entry in entries}
    claimed = f"job {job} claimed: generate for owner 0, no pet (plain SDXL), attempt 1 of 3"
    assert messages[claimed] == job
    [finished] = [m for m in messages if m.startswith(f"job {job} (generate) finished")]
    assert messages[finished] == job
    # Said on the job's worker thread: the job id follows the job there.
    [loading] = [m for m in messages if m.startswith("loading the resident pipeline")]
    assert messages[loading] == job
    assert messages[next(m for m in messages if m.startswith("engine "))] is None


def output_lines(process: subprocess.Popen) -> list[str]:
    """The lines `process` prints, as it prints them (read on a thread)."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    return lines


def stop(engine: subprocess.Popen) -> None:
    engine.send_signal(signal.SIGTERM)
    assert engine.wait(timeout=60) == 0


def test_an_idle_engine_loads_its_pipeline_before_the_first_picture_is_asked_for(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    _, database, env = engine_site(tmp_path, tiny_model_dir, **TINY_PICTURES)
    engine = start_petbooth("engine", env=env)
    lines = output_lines(engine)
    try:
        wait_until(lambda: any("ready" in line for line in lines), engine, "the warm pipeline")
        [(row_since,)] = query(database, "SELECT started_at FROM engines")
        queued = petbooth("imagine", "a photo of a cat", "--seed", "1", env=env)
        job = int(queued.stdout)
        state = f"SELECT 1 FROM jobs WHERE id = {job} AND state = 'succeeded'"
        wait_until(lambda: query(database, state), engine, "the picture")
        stop(engine)
    finally:
        engine.kill()
    loads = [i for i, line in enumerate(lines) if "loading the resident pipeline" in line]
    [ready] = [
        i for i, line in enumerate(lines) if re.search(r"pipeline loaded in .*, ready$", line)
    ]
    [claimed] = [i for i, line in enumerate(lines) if f"job {job} claimed" in line]
    assert len(loads) == 1 and loads[0] < ready < claimed
    # Its row (/status: "loading its model") was there before it imported torch to pick a
    # device, seconds before it could log where it runs.
    [started] = [line for line in lines if " started on device " in line]
    logged = datetime.strptime(started[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    assert row_since < logged


def test_an_engine_whose_model_is_missing_says_so_in_a_line_and_keeps_running(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    _, _, env = engine_site(tmp_path, tiny_model_dir, PETBOOTH_BASE_MODEL=str(tmp_path / "none"))
    engine = start_petbooth("engine", env=env)
    lines = output_lines(engine)
    try:
        wait_until(lambda: any("failed" in line for line in lines), engine, "the load to fail")
        stop(engine)
    finally:
        engine.kill()
    [failed] = [line for line in lines if "loading the resident pipeline failed" in line]
    assert "PETBOOTH_BASE_MODEL" in failed and failed.endswith("each job will try again")
    assert not any("Traceback" in line for line in lines)
