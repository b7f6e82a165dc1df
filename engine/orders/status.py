"""What /status and `petbooth status` show: jobs with queue position and ETA, subjects,
engine health, and (/status in a server with rules) the member's standing under them.
Torch-free; estimates come from measured seconds per step."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.orders.checkpoint_choice import step_in_use
from engine.orders.guild_rules import reset_at, todays_use
from engine.orders.liveness import is_live
from engine.orders.pet_states import pet_state
from engine.settings import Settings
from engine.store import (
    Database,
    EngineHealth,
    Job,
    JobKind,
    JobState,
    SubjectStatus,
    engines,
    guilds,
    jobs,
    subjects,
)
from engine.store.guilds import GuildRules, Usage

# Before any job has run on this machine: an H100 trains SDXL-LoRA at ~0.3 s/step at
# 1024 px; a guess that errs long keeps promises (refined from the first finished job).
FALLBACK_SECONDS_PER_STEP = 0.5
# Pictures, until one has been drawn here: seconds per denoising step of one megapixel
# (1024 x 1024). An H200 draws a 30-step 1024 px picture in 3.4 s eager (BENCHMARKS.md);
# 5 s per such picture errs long for the cards petbooth targets.
FALLBACK_PICTURE_SECONDS = 5.0 / 30
# For callers that show no engines (and tests): the engines' own default period.
DEFAULT_HEARTBEAT_SECONDS: float = Settings.model_fields["heartbeat_seconds"].default


@dataclass(frozen=True)
class JobLine:
    id: int
    kind: str
    owner_id: int
    subject_id: int | None
    state: str
    step: int
    total_steps: int
    position: int | None  # 1 = next to be claimed
    eta_seconds: float | None  # until this job finishes
    error: str | None


@dataclass(frozen=True)
class StatusReport:
    jobs: list[JobLine]
    subjects: list[dict[str, Any]]
    engines: list[dict[str, Any]]
    now: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Speeds:
    """The latest measured speeds: a training's seconds per step, and a picture's seconds
    per denoising step of one megapixel (``picture_work``)."""

    training: float = FALLBACK_SECONDS_PER_STEP
    picture: float = FALLBACK_PICTURE_SECONDS


async def measured_seconds_per_step(db: Database, kind: JobKind = JobKind.TRAIN) -> float | None:
    row = await db.fetch_one(
        "SELECT seconds_per_step FROM jobs WHERE kind = ? AND seconds_per_step IS NOT NULL "
        "ORDER BY COALESCE(finished_at, claimed_at) DESC LIMIT 1",
        (kind.value,),
    )
    return float(row[0]) if row else None


async def measured_speeds(db: Database) -> Speeds:
    training = await measured_seconds_per_step(db, JobKind.TRAIN)
    picture = await measured_seconds_per_step(db, JobKind.GENERATE)
    return Speeds(training or FALLBACK_SECONDS_PER_STEP, picture or FALLBACK_PICTURE_SECONDS)


def picture_work(params: dict[str, Any], steps: int) -> float:
    """A picture job's work in denoising steps of one megapixel: count x steps x megapixels.
    An upscale to 2048 px is 4 megapixels of 9 steps; its ETA grows accordingly."""
    megapixels = int(params.get("width", 1024)) * int(params.get("height", 1024)) / 2**20
    return max(1, int(params.get("count", 1))) * max(1, steps) * megapixels


def _remaining_seconds(job: Job, speeds: Speeds) -> float:
    if job.kind is JobKind.GENERATE:
        return picture_work(job.params, job.total_steps) * speeds.picture
    sps = job.seconds_per_step or speeds.training
    return max(job.total_steps - job.step, 0) * sps


async def build_status(
    db: Database,
    owner_id: int | None = None,
    recent_finished: int = 10,
    *,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
) -> StatusReport:
    """`heartbeat_seconds`: the engines' heartbeat period (settings.heartbeat_seconds), for
    telling a live engine from a silent one."""
    speeds = await measured_speeds(db)
    running = await jobs.list_jobs(db, states=[JobState.RUNNING])
    # Jobs ahead of a queued one: every running job's rest, then the queue in claim order.
    backlog = sum(_remaining_seconds(j, speeds) for j in running)
    lines: list[JobLine] = []
    for job in running:
        lines.append(_line(job, None, _remaining_seconds(job, speeds)))
    for position, job in enumerate(await jobs.queue_order(db), start=1):
        backlog += _remaining_seconds(job, speeds)
        lines.append(_line(job, position, backlog))
    finished = [
        j
        for j in await jobs.list_jobs(
            db, states=[JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]
        )
    ]
    lines += [_line(j, None, None) for j in finished[-recent_finished:]]
    if owner_id is not None:
        lines = [line for line in lines if line.owner_id == owner_id]
    pets = await subjects.list_for_owner(db, owner_id)
    now = await db.current_time()  # heartbeats are stamped by the database's clock
    return StatusReport(
        jobs=lines,
        subjects=[
            {
                "id": s.id,
                "owner_id": s.owner_id,
                "name": s.name,
                "class_noun": s.class_noun,
                "token": s.token,
                "status": pet_state(s.status),  # "queued", as its job reads
                "chosen_step": s.chosen_step,
                "recommended_step": s.recommended_step,
                # which step its pictures use, and why: "step 300, recommended: best likeness"
                "model": step_in_use(s).describe() if s.status is SubjectStatus.READY else None,
            }
            for s in pets
        ],
        engines=[
            _engine(e, running, now, heartbeat_seconds) for e in await engines.all_engines(db)
        ],
        now=now,
    )


def _engine(
    engine: EngineHealth, running: list[Job], now: float, heartbeat_seconds: float
) -> dict[str, Any]:
    # The row names the job of the engine's last heartbeat. A SIGKILLed engine's row keeps
    # naming it after the job was claimed again and finished elsewhere: it is this engine's
    # job only while it is still running under this engine's claim.
    current = next(
        (j.id for j in running if j.id == engine.job_id and j.engine_id == engine.engine_id),
        None,
    )
    return {
        "engine_id": engine.engine_id,
        "device": engine.device,
        "alive": is_live(engine, now, heartbeat_seconds),
        "job_id": current,
        "heartbeat_age_seconds": round(now - engine.heartbeat_at, 1),
        "loading_for_seconds": round(now - engine.started_at) if engine.loading else None,
    }


def engine_state(engine: dict[str, Any]) -> str:
    """What /status and `petbooth status` say about one engine of a report, in the same
    words: "heartbeat 3 s ago, running job 7", "heartbeat 3 s ago, idle", "heartbeat 3 s
    ago, loading its model (engine started 2 min ago)", "not heard from for 45 s" (a killed
    engine's row is kept until a starting engine forgets it)."""
    age = max(engine["heartbeat_age_seconds"], 0)
    if engine["alive"]:
        return f"heartbeat {age:.0f} s ago, {_doing(engine)}"
    was = f", was running job {engine['job_id']}" if engine["job_id"] else ""
    # Seconds while they are countable (a few missed beats), then minutes and hours.
    silent = f"{age:.0f} s" if age < 120 else duration(age)
    return f"not heard from for {silent}{was}"


def _doing(engine: dict[str, Any]) -> str:
    if engine["job_id"]:
        return f"running job {engine['job_id']}"
    loading = engine.get("loading_for_seconds")
    if loading is not None:  # minutes the first time SDXL is downloaded
        since = f"{loading:.0f} s" if loading < 120 else duration(loading)
        return f"loading its model (engine started {since} ago)"
    return "idle"


def _line(job: Job, position: int | None, eta: float | None) -> JobLine:
    return JobLine(
        job.id,
        job.kind.value,
        job.owner_id,
        job.subject_id,
        job.state.value,
        job.step,
        job.total_steps,
        position,
        round(eta, 1) if eta is not None else None,
        job.error,
    )


def duration(seconds: float | None) -> str:
    """ "45 s", "12 min", "1 h 05 min"; "unknown" when there is no estimate yet."""
    if seconds is None:
        return "unknown"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class ServerStanding:
    """A member under a server's rules today: /status's "This server" section. Roles are
    the rules' to name and the bot's to check (only Discord knows a member's)."""

    rules: GuildRules
    mine: Usage  # what the quotas count today: this member's jobs in the server
    everyone: Usage  # and all its members'
    resets_at: int  # the next 00:00 UTC, Unix seconds


async def server_standing(
    db: Database, guild_id: int | None, owner_id: int
) -> ServerStanding | None:
    """None in DMs (no server, no rules) and in a server whose admins keep nobody from
    anything: not paused, no roles, no quotas (the safety filter limits no member)."""
    if guild_id is None:
        return None
    rules = await guilds.get(db, guild_id)
    if not _limits_members(rules):
        return None
    now = await db.current_time()
    mine, everyone = await todays_use(db, guild_id, owner_id, now)
    return ServerStanding(rules, mine, everyone, reset_at(now))


def _limits_members(rules: GuildRules) -> bool:
    quotas = (
        rules.daily_trainings_per_user,
        rules.daily_trainings_per_guild,
        rules.daily_pictures_per_user,
        rules.daily_pictures_per_guild,
    )
    roles = rules.train_role_ids or rules.imagine_role_ids
    return rules.paused or bool(roles) or any(q is not None for q in quotas)
