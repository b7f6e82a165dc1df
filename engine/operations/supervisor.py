"""`petbooth run`: migrate, then keep the bot and one engine per GPU alive until Ctrl-C.

Children are plain processes (`python -m bot`, `python -m engine.cli engine`), so a crash in
one never takes the others down. A child that dies is restarted with backoff; an engine that
dies leaves its job under a lease that expires, and the restarted engine resumes it from
the last checkpoint. SIGINT/SIGTERM are passed on: engines checkpoint and hand their job
back to the queue before they exit.

A child that exits with CONFIGURATION_ERROR (a missing token, no engine installed) is not
restarted: nothing a restart does can fix it. `petbooth run` then stops the others and exits
with that status, so a container or service manager sees the failure instead of a
supervisor that waits on forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from engine.logs import LogFormat
from engine.settings import MISSING_TOKEN, Settings
from engine.store.migrate import migrate

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0  # a crash loop (bad token, no disk) retries twice a minute
STOP_GRACE_SECONDS = 60.0  # long enough for an engine to write a checkpoint of SDXL's LoRA
CONFIGURATION_ERROR = 2  # exit status of a child that lacks a setting (e.g. the bot's token)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    backoff: float = field(default=1.0)


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, as each engine's CUDA_VISIBLE_DEVICES will name
    them, without importing torch: the entries of our own CUDA_VISIBLE_DEVICES (indexes or
    UUIDs, as the operator wrote them) when it is set, else every card nvidia-smi lists."""
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    count = sum(1 for line in listing.splitlines() if line.startswith("GPU "))
    return gpus_to_use(count, os.environ.get("CUDA_VISIBLE_DEVICES"))


def gpus_to_use(installed: int, visible: str | None) -> list[str]:
    """`installed` cards, as narrowed by a CUDA_VISIBLE_DEVICES value (None: unset). As
    CUDA reads it: up to the first entry that names no card (-1, an index past the last
    card; an empty value hides them all), each card once."""
    if visible is None:
        return [str(index) for index in range(installed)]
    cards: list[str] = []
    for entry in (part.strip() for part in visible.split(",")):
        known = entry.isdigit() and int(entry) < installed
        if not (known or entry.startswith(("GPU-", "MIG-"))) or entry in cards:
            break
        cards.append(entry)
    return cards[:installed]


def plan_children(
    settings: Settings,
    with_bot: bool,
    gpus: list[str],
    sync_commands: bool = False,
    log_format: LogFormat = "text",
) -> list[Child]:
    python = sys.executable
    # Every child logs as `petbooth run` was told to: one format for the collector to parse.
    base_env = {**os.environ, "PETBOOTH_LOG_FORMAT": log_format}
    children = []
    if with_bot:
        sync = ["--sync-commands"] if sync_commands else []
        children.append(Child("bot", [python, "-m", "bot", *sync], dict(base_env)))
    if not gpus:
        log.warning(
            "No GPU found: running ONE engine on the CPU. SDXL training and generation on a "
            "CPU are impractically slow (hours per job); use a machine with an NVIDIA GPU."
        )
    for index in range(max(len(gpus), 1)):
        env = dict(base_env)
        if gpus:
            # Each engine sees exactly one GPU, so "cuda" means its own card: the index-th
            # of those this process may use (not the index-th installed one).
            env["CUDA_VISIBLE_DEVICES"] = gpus[index]
            env["PETBOOTH_DEVICE"] = "cuda"
        children.append(Child(f"engine-{index}", [python, "-m", "engine.cli", "engine"], env))
    return children


class Supervisor:
    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self.gave_up: list[str] = []  # children that exited with CONFIGURATION_ERROR
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> int:
        watchers = [asyncio.create_task(self._keep_alive(child)) for child in self.children]
        await self._stopping.wait()
        log.info("stopping: asking %d children to finish", len(self.children))
        await asyncio.gather(*(self._terminate(child) for child in self.children))
        for watcher in watchers:
            watcher.cancel()
        return CONFIGURATION_ERROR if self.gave_up else 0

    async def _keep_alive(self, child: Child) -> None:
        while not self._stopping.is_set():
            child.process = await asyncio.create_subprocess_exec(*child.argv, env=child.env)
            log.info("%s started (pid %s)", child.name, child.process.pid)
            started = asyncio.get_running_loop().time()
            code = await child.process.wait()
            if self._stopping.is_set():
                return
            if code == CONFIGURATION_ERROR:  # restarting cannot fix a missing setting
                log.error("%s cannot run with this configuration; stopping petbooth", child.name)
                self.gave_up.append(child.name)
                self.stop()
                return
            ran = asyncio.get_running_loop().time() - started
            child.backoff = 1.0 if ran > 60 else min(child.backoff * 2, MAX_BACKOFF_SECONDS)
            child.restarts += 1
            log.error(
                "%s exited with %s; restart %d in %.0f s",
                child.name,
                code,
                child.restarts,
                child.backoff,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), child.backoff)

    async def _terminate(self, child: Child) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.error("%s did not stop in %.0f s; killing it", child.name, STOP_GRACE_SECONDS)
            process.kill()
            await process.wait()


def run_all(
    settings: Settings,
    with_bot: bool = True,
    sync_commands: bool = False,
    log_format: LogFormat = "text",
) -> int:
    if with_bot and not settings.has_discord_token:
        print(
            MISSING_TOKEN + "\n(or start the engines alone with `petbooth run --no-bot`)",
            file=sys.stderr,
        )
        return CONFIGURATION_ERROR
    version = migrate(settings.database_target)  # once, before any child opens the database
    log.info("database %s at schema version %d", _shown(settings.database_target), version)

    async def main() -> int:
        children = plan_children(settings, with_bot, visible_gpus(), sync_commands, log_format)
        supervisor = Supervisor(children)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, supervisor.stop)
        return await supervisor.run()

    return asyncio.run(main())


def _shown(target: object) -> str:
    """The database for a log line: a PostgreSQL URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", str(target))
