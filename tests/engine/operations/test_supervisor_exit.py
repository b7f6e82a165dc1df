"""`petbooth run` exits non-zero when a child gives up (a configuration error it cannot fix
by restarting), after stopping the others; an ordinary crash is still restarted. Real
processes throughout."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.operations.supervisor import CONFIGURATION_ERROR, Child, Supervisor
from tests.engine_env import petbooth, without_modules

GPU_STACK = ("torch", "diffusers", "transformers", "peft", "accelerate", "bitsandbytes")


def _python(name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], dict(os.environ))


def test_a_child_that_gives_up_stops_the_others_and_the_exit_status_says_so() -> None:
    gives_up = _python("bot", f"import sys; sys.exit({CONFIGURATION_ERROR})")
    keeps_running = _python("engine-0", "import time; time.sleep(120)")
    supervisor = Supervisor([gives_up, keeps_running])

    started = time.monotonic()
    status = asyncio.run(asyncio.wait_for(supervisor.run(), timeout=60))

    assert status == CONFIGURATION_ERROR
    assert supervisor.gave_up == [gives_up.name]
    assert time.monotonic() - started < 30  # no restart backoff, no waiting on forever
    assert keeps_running.process is not None and keeps_running.process.returncode is not None
    assert gives_up.restarts == 0


def test_a_crash_is_restarted_and_a_clean_stop_exits_zero(tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    # exits 1 the first time, then stays up: a crash, not a configuration error
    crashes_once = _python(
        "engine-0",
        f"import pathlib, sys, time; p = pathlib.Path({str(marker)!r})\n"
        "if not p.exists(): p.touch(); sys.exit(1)\n"
        "time.sleep(120)",
    )
    supervisor = Supervisor([crashes_once])

    async def run_then_stop() -> int:
        running = asyncio.create_task(supervisor.run())
        await _until(lambda: marker.exists() and crashes_once.process is not None)
        first = crashes_once.process
        # restarted after its 2 s backoff, and the new one is running
        await _until(lambda: crashes_once.process is not first)
        await asyncio.sleep(0.5)
        assert crashes_once.process is not None and crashes_once.process.returncode is None
        supervisor.stop()
        return await running

    status = asyncio.run(asyncio.wait_for(run_then_stop(), timeout=60))

    assert status == 0
    assert supervisor.gave_up == []
    assert crashes_once.restarts == 1


def test_run_exits_non_zero_when_its_engine_cannot_start(tmp_path: Path) -> None:
    """`petbooth run --no-bot` on a machine without the engine installed: the engine child
    exits with a configuration error and `run` exits with it instead of waiting forever."""
    env = without_modules(tmp_path, list(GPU_STACK))  # the engine child cannot import torch

    result = petbooth("run", "--no-bot", env=env, timeout=60)

    assert result.returncode == CONFIGURATION_ERROR
    assert "pip install 'petbooth[engine]'" in result.stderr
    assert "engine-0 cannot run with this configuration" in result.stderr
    assert "restart 1" not in result.stderr


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(600):  # 30 s
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")
