"""`petbooth run`: an engine killed with SIGKILL is restarted and its job finishes; SIGTERM
stops everything cleanly (real processes, tiny SDXL, no Discord)."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from engine.operations.supervisor import gpus_to_use, plan_children
from engine.settings import Settings
from tests.engine_env import (
    SHORT_LEASE,
    engine_env,
    engine_site,
    petbooth,
    queue_training,
    start_petbooth,
    wait_until,
)
from tests.samples import write_photos


def _query(database: Path, sql: str) -> list[tuple]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
def test_killed_engine_is_restarted_and_sigterm_stops_all(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    _, database, env = engine_site(tmp_path, tiny_model_dir, **SHORT_LEASE)
    photos = write_photos(tmp_path / "photos", 5)
    queue_training(env, photos, steps=30, checkpoint_every=5)

    supervisor = start_petbooth("run", "--no-bot", env=env)
    try:
        (first_pid,) = wait_until(
            lambda: [
                r[0] for r in _query(database, "SELECT pid FROM engines WHERE job_id IS NOT NULL")
            ],
            supervisor,
            "an engine running the job",
        )
        wait_until(
            lambda: _query(database, "SELECT 1 FROM jobs WHERE step >= 5"),
            supervisor,
            "training progress",
        )
        os.kill(first_pid, signal.SIGKILL)
        wait_until(
            lambda: _query(database, f"SELECT 1 FROM engines WHERE pid != {first_pid}"),
            supervisor,
            "a restarted engine",
        )
        wait_until(
            lambda: _query(database, "SELECT 1 FROM jobs WHERE state = 'succeeded'"),
            supervisor,
            "the job to finish after the restart",
        )
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=90) == 0
    finally:
        supervisor.kill()
    log = supervisor.stdout.read()
    assert "restart 1" in log
    # the restarted engine exited cleanly and removed its row (the killed one could not)
    assert _query(database, f"SELECT COUNT(*) FROM engines WHERE pid != {first_pid}") == [(0,)]


def test_cpu_only_plans_one_engine_with_a_loud_warning(tmp_path: Path, caplog) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    children = plan_children(settings, with_bot=True, gpus=[])
    assert [c.name for c in children] == ["bot", "engine-0"]
    assert "impractically slow" in caplog.text


def test_one_engine_per_gpu_each_seeing_its_own_card(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    children = plan_children(settings, False, gpus=gpus_to_use(2, None))
    assert [(c.name, c.env["CUDA_VISIBLE_DEVICES"]) for c in children] == [
        ("engine-0", "0"),
        ("engine-1", "1"),
    ]


def test_the_cards_the_operator_left_visible_are_the_ones_used(tmp_path: Path) -> None:
    """`CUDA_VISIBLE_DEVICES=2,3 petbooth run` on a 4-GPU machine: engines on cards 2 and 3,
    not on 0 and 1, which the operator kept for something else."""
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert gpus_to_use(4, "2,3") == ["2", "3"]
    assert gpus_to_use(2, "GPU-8f2e,GPU-1c4a, GPU-77aa") == ["GPU-8f2e", "GPU-1c4a"]
    assert gpus_to_use(4, "") == []  # CUDA hides every card
    assert gpus_to_use(4, "-1") == []  # ... and so does -1: one engine, on the CPU
    assert gpus_to_use(4, "0,-1,1") == ["0"]  # CUDA stops at the first invalid entry
    assert gpus_to_use(2, "1,5") == ["1"]  # there is no card 5
    children = plan_children(settings, False, gpus=gpus_to_use(4, "2,3"))
    assert [c.env["CUDA_VISIBLE_DEVICES"] for c in children] == ["2", "3"]


def test_run_without_token_says_how_to_get_one(tmp_path: Path) -> None:
    env = engine_env(tmp_path / "data", tmp_path)
    result = petbooth("run", env=env, timeout=60)
    assert result.returncode == 2
    assert "PETBOOTH_DISCORD_TOKEN" in result.stderr and "--no-bot" in result.stderr
