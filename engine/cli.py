"""The ``petbooth`` command. Each subcommand imports what it needs when it runs, so
``petbooth status`` never pays for torch."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.logs import LOG_FORMATS, configure_logging
from engine.orders.styles import STYLES, shown_prompts
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.intake import IntakeResult, Upload
    from engine.orders.enrolment import EnrollmentRefused
    from engine.orders.variations import Variation
    from engine.store import Database

CLI_OWNER_ID = 0  # jobs enqueued from the command line belong to "the machine's operator"
# What `petbooth[engine]` adds; a bot-only install (`pip install petbooth`) lacks these.
ENGINE_MODULES = (
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "peft",
    "bitsandbytes",
    "safetensors",
    "huggingface_hub",
    "numpy",
    "matplotlib",
)
# Long-running commands: they log at INFO without -v.
SERVICES = ("engine", "run", "bot")
# A configuration error, like a missing token: `petbooth run` gives up on such a child
# instead of restarting it every 30 s.
ENGINE_NOT_INSTALLED = 2

STYLE_NAMES = list(STYLES)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.log_format not in LOG_FORMATS:  # a bad PETBOOTH_LOG_FORMAT (argparse checks flags)
        parser.error(f"PETBOOTH_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    # Services (engine, run, bot) say what they do; one-shot commands only what went wrong.
    service = args.command in SERVICES
    configure_logging(logging.INFO if args.verbose or service else logging.WARNING, args.log_format)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] not in ENGINE_MODULES:
            raise
        print(
            f"`petbooth {args.command}` needs the engine, which is not installed here "
            f"(no {missing.name}): pip install 'petbooth[engine]'",
            file=sys.stderr,
        )
        return ENGINE_NOT_INSTALLED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petbooth", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=os.environ.get("PETBOOTH_LOG_FORMAT", "text"),
        help="text for people (default), json: one object a line, for Docker and log "
        "collectors (also PETBOOTH_LOG_FORMAT=json)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tiny = sub.add_parser("tiny-model", help="write a tiny random SDXL (for tests and demos)")
    tiny.add_argument("directory", type=Path)
    tiny.set_defaults(func=_tiny_model)

    train = sub.add_parser("train", help="validate photos and queue a DreamBooth-LoRA training")
    train.add_argument("photos", nargs="+", type=Path, metavar="PHOTO_OR_ZIP")
    train.add_argument("--name", required=True, help="what you call the pet, e.g. thor")
    train.add_argument("--class", dest="class_noun", required=True, help="e.g. cat, dog")
    train.add_argument("--steps", type=int)
    train.add_argument("--resolution", type=int)
    train.add_argument("--checkpoint-every", type=int)
    train.add_argument("--prior-preservation", action="store_true", default=None)
    train.add_argument("--owner", type=int, default=CLI_OWNER_ID, help=argparse.SUPPRESS)
    train.set_defaults(func=_train)

    grow = sub.add_parser("grow", help="add photos to a ready pet and queue its new training")
    grow.add_argument("name", help="the pet's name, e.g. thor")
    grow.add_argument("photos", nargs="+", type=Path, metavar="PHOTO_OR_ZIP")
    grow.add_argument(
        "--fresh", action="store_true", help="a new model on every photo (default: continue)"
    )
    grow.add_argument("--owner", type=int, default=CLI_OWNER_ID, help=argparse.SUPPRESS)
    grow.set_defaults(func=_grow)

    imagine = sub.add_parser(
        "imagine",
        help="queue a picture of a trained pet (or plain SDXL)",
        description="Queue pictures for the operator: unlike the bot's, they are not "
        "checked by the safety filter (PETBOOTH_SAFETY__*).",
    )
    imagine.add_argument("prompt", help='e.g. "a photo of TOK cat on a skateboard"')
    imagine.add_argument("--subject", help="the pet's name (default: your latest ready pet)")
    imagine.add_argument(
        "--with",
        dest="with_pet",
        metavar="NAME",
        help="a second pet in the same picture: write TOK1 and TOK2 where they go",
    )
    imagine.add_argument("--seed", type=int)
    imagine.add_argument("--steps", type=int)
    imagine.add_argument("--count", type=int, default=1)
    imagine.add_argument("--negative", help="what the picture must not show")
    imagine.add_argument(
        "--lora-scale",
        type=float,
        default=1.0,
        help="how strongly the pet's model applies, 0-1.5: 1 normal, lower if pictures look "
        "overcooked",
    )
    imagine.add_argument(
        "--style",
        choices=STYLE_NAMES,
        help="a look: adds a few words to the prompt and the negative prompt",
    )
    imagine.add_argument("--out", type=Path, help="the engine also copies the PNGs here")
    imagine.add_argument("--owner", type=int, default=CLI_OWNER_ID, help=argparse.SUPPRESS)
    imagine.set_defaults(func=_imagine)
    _variation_parsers(sub)

    engine = sub.add_parser(
        "engine", help="run an engine: claims jobs, trains and draws (one per GPU)"
    )
    engine.add_argument("--until-idle", action="store_true", help="exit 0 once the queue is empty")
    engine.set_defaults(func=_engine)

    bot = sub.add_parser("bot", help="run the Discord bot (needs PETBOOTH_DISCORD_TOKEN)")
    _sync_commands_option(bot, "register the slash commands with Discord, then run")
    bot.set_defaults(func=_bot)

    status = sub.add_parser("status", help="jobs, queue positions, ETAs, subjects, engines")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    evaluate = sub.add_parser("eval", help="a pet's checkpoint scores and its recommended step")
    evaluate.add_argument("name", help="the pet's name, e.g. thor")
    evaluate.add_argument("--owner", type=int, help="the owner's id, when several pets share it")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=_eval)

    run = sub.add_parser("run", help="migrate, then run the bot and one engine per GPU")
    run.add_argument("--no-bot", action="store_true", help="engines only (no Discord)")
    _sync_commands_option(
        run, "register the slash commands with Discord (first run, or after an upgrade)"
    )
    run.set_defaults(func=_run)

    doctor = sub.add_parser("doctor", help="check token, GPU, disk, models and database")
    doctor.add_argument(
        "--liveness",
        nargs="?",
        const="engine",
        choices=("engine", "bot"),
        help="only: has an engine (default) or the bot sent a heartbeat lately (healthcheck)",
    )
    doctor.set_defaults(func=_doctor)

    download = sub.add_parser(
        "download-models", help="fetch the base model, VAE, scoring and safety models now"
    )
    download.set_defaults(func=_download_models)
    return parser


def _sync_commands_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--sync-commands", action="store_true", help=help_text)


def _run(args: argparse.Namespace) -> int:
    from engine.operations.supervisor import run_all

    return run_all(
        Settings(),
        with_bot=not args.no_bot,
        sync_commands=args.sync_commands,
        log_format=args.log_format,
    )


def _doctor(args: argparse.Namespace) -> int:
    from engine.operations.doctor import bot_liveness, liveness, run_checks

    settings = Settings()
    if args.liveness is None:
        findings = run_checks(settings)
    else:
        findings = [bot_liveness(settings) if args.liveness == "bot" else liveness(settings)]
    for finding in findings:
        print(finding.line())
    return 1 if any(not f.ok and f.fatal for f in findings) else 0


def _download_models(args: argparse.Namespace) -> int:
    from engine.models.download import DownloadFailedError, download_models

    settings = Settings()
    try:
        scoring = settings.scoring
        scorers = [scoring.identity_model, scoring.prompt_model] if scoring.enabled else []
        if settings.safety.enabled:  # a transformers model too: the same files
            scorers.append(settings.safety.model)
        for place in download_models(settings.base_model, settings.vae or None, scorers):
            print(place)
    except DownloadFailedError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


def _tiny_model(args: argparse.Namespace) -> int:
    from engine.models.library_noise import silence_library_noise

    silence_library_noise()  # no "Writing model shards" bars
    from engine.models.tiny import build_tiny_sdxl

    path = build_tiny_sdxl(args.directory).resolve()
    scorers = path / "scorers"
    print(  # PETBOOTH_VAE= : its own VAE, not SDXL's fp16-fix one from the hub
        f"Tiny SDXL written to {path}. Use it with: PETBOOTH_BASE_MODEL={path} PETBOOTH_VAE= "
        f"PETBOOTH_SCORING__IDENTITY_MODEL={scorers / 'identity'} "
        f"PETBOOTH_SCORING__PROMPT_MODEL={scorers / 'prompt'} "
        f"PETBOOTH_SAFETY__MODEL={path / 'safety'}"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from engine.orders.enrolment import EnrollmentRefused, TrainingOrder, enrol_subject

    uploads = _read_uploads(args.photos)
    if uploads is None:
        return 2
    overrides = {
        key: value
        for key, value in {
            "steps": args.steps,
            "resolution": args.resolution,
            "checkpoint_every": args.checkpoint_every,
            "prior_preservation": args.prior_preservation,
        }.items()
        if value is not None
    }
    order = TrainingOrder(
        owner_id=args.owner, name=args.name, class_noun=args.class_noun, overrides=overrides
    )
    settings = Settings()

    async def queue(db: Database) -> int:
        try:
            enrolled = await enrol_subject(db, settings, order, uploads)
        except EnrollmentRefused as refused:
            return _enrolment_refused("Training", refused)
        _skipped(enrolled.intake)
        for warning in enrolled.intake.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        pet, config = enrolled.subject, enrolled.config
        return _queued(
            enrolled.job_id,
            f"train {pet.name} ({pet.class_noun}) on {len(enrolled.intake.accepted)} photos, "
            f"{config.steps} steps at {config.resolution} px. Once it is ready, write TOK "
            f"where {pet.name} goes in `petbooth imagine` prompts.\n"
            f"Each photo as it will train: {enrolled.contact_sheet}",
        )

    return _with_database(settings, queue)


def _grow(args: argparse.Namespace) -> int:
    from engine.orders.enrolment import EnrollmentRefused
    from engine.orders.growth import GrowthMode, GrowthOrder, grow_subject

    uploads = _read_uploads(args.photos)
    if uploads is None:
        return 2
    mode = GrowthMode.FRESH if args.fresh else GrowthMode.CONTINUE
    order = GrowthOrder(owner_id=args.owner, name=args.name, mode=mode)
    settings = Settings()

    async def queue(db: Database) -> int:
        try:
            grown = await grow_subject(db, settings, order, uploads)
        except EnrollmentRefused as refused:
            return _enrolment_refused("Growth", refused)
        _skipped(grown.intake)
        growth = grown.growth
        return _queued(
            grown.job_id,
            f"grow {grown.subject.name} from {growth.photos_before} to {growth.photos_after} "
            f"photos ({growth.mode.value}, {grown.config.steps} steps); it draws with its "
            f"current model until then.\nEvery photo it will train on: {grown.contact_sheet}",
        )

    return _with_database(settings, queue)


def _read_uploads(paths: list[Path]) -> list[Upload] | None:
    """The photo files as uploads; None (each missing one said on stderr) if any is missing."""
    from engine.intake import Upload

    missing = [f"{path}: no such file" for path in paths if not path.is_file()]
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return None
    return [Upload(filename=path.name, data=path.read_bytes()) for path in paths]


def _enrolment_refused(what: str, refused: EnrollmentRefused) -> int:
    """A refused training or growth: its reasons, then each photo it could not use."""
    rejected = refused.intake.rejected if refused.intake is not None else []
    return _refused(what, [*refused.reasons, *(f"{r.filename}: {r.reason}" for r in rejected)])


def _skipped(intake: IntakeResult) -> None:
    for rejection in intake.rejected:
        print(f"skipped {rejection.filename}: {rejection.reason}", file=sys.stderr)


def _refused(what: str, reasons: list[str]) -> int:
    """Why nothing was queued, one reason a line, on stderr; the exit status is 1."""
    print(f"{what} not queued:", file=sys.stderr)
    for reason in reasons:
        print(f"  - {reason}", file=sys.stderr)
    return 1


def _queued(job_id: int, summary: str) -> int:
    """The job id alone on stdout (for scripts), what was queued on stderr (for people)."""
    print(f"queued job {job_id}: {summary}", file=sys.stderr)
    print(job_id)
    return 0


def _imagine(args: argparse.Namespace) -> int:
    from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine

    settings = Settings()
    order = ImagineOrder(
        owner_id=args.owner,
        prompt=args.prompt,
        subject_name=args.subject,
        with_pet=args.with_pet,
        negative_prompt=args.negative,
        count=args.count,
        seed=args.seed,
        steps=args.steps,
        lora_scale=args.lora_scale,
        style=args.style,
        out_dir=str(args.out.resolve()) if args.out is not None else None,
    )

    async def queue(db: Database) -> int:
        try:
            queued = await enqueue_imagine(db, settings, order)
        except ImagineRefused as refused:
            return _refused("Picture", refused.reasons)
        params, count = queued.params, queued.params["count"]
        what = f"{count} picture{'s' if count > 1 else ''}"
        of = f" of {queued.subject.name}" if queued.subject is not None else ""
        if queued.second is not None:
            of += f" and {queued.second.name}"
        where = params.get("out_dir") or settings.output_dir(queued.job_id).resolve()
        shown = shown_prompts(params)
        if shown is not None:
            print(
                f"style {params['style']}: prompt {shown[0]!r}, negative {shown[1]!r}",
                file=sys.stderr,
            )
        return _queued(
            queued.job_id,
            f"{what}{of}, {params['width']}x{params['height']}, seed {params['seed']}; "
            f"the engine writes the PNGs to {where}",
        )

    return _with_database(settings, queue)


def _variation_parsers(sub: argparse._SubParsersAction) -> None:
    vary = sub.add_parser("vary", help="queue a variation of a delivered picture (new seed)")
    upscale = sub.add_parser("upscale", help="queue a delivered picture redrawn at twice the size")
    for parser in (vary, upscale):
        parser.add_argument("job", type=int, help="the job that drew the picture")
        parser.add_argument("--picture", type=int, default=1, help="which of its pictures, from 1")
        parser.add_argument("--out", type=Path, help="the engine also copies the PNG here")
        parser.add_argument("--owner", type=int, default=CLI_OWNER_ID, help=argparse.SUPPRESS)
    vary.add_argument(
        "--strength",
        choices=("subtle", "strong"),
        default="subtle",
        help="subtle keeps pose and framing; strong keeps only colours and rough layout",
    )
    vary.set_defaults(func=lambda args: _redraw(args, args.strength))
    upscale.set_defaults(func=lambda args: _redraw(args, "upscale"))


def _redraw(args: argparse.Namespace, kind: Variation) -> int:
    """`petbooth vary` and `petbooth upscale`: the picture's own order, redrawn from it."""
    from engine.orders.imagine import ImagineRefused, enqueue_imagine
    from engine.orders.repeat import variation_order
    from engine.orders.variations import describe_variation

    settings = Settings()
    out_dir = str(args.out.resolve()) if args.out is not None else None

    async def queue(db: Database) -> int:
        try:
            order = await variation_order(
                db, settings, args.owner, args.job, args.picture, kind, out_dir=out_dir
            )
            queued = await enqueue_imagine(db, settings, order)
        except ImagineRefused as refused:
            return _refused("Picture", refused.reasons)
        params = queued.params
        where = params.get("out_dir") or settings.output_dir(queued.job_id).resolve()
        return _queued(
            queued.job_id,
            f"{describe_variation(params)}, {params['width']}x{params['height']}, seed "
            f"{params['seed']}; the engine writes the PNG to {where}",
        )

    return _with_database(settings, queue)


def _require_engine_modules() -> None:
    """The engine loads the GPU stack only when it runs a job: check it is installed first,
    or a bot-only install would claim jobs just to fail them."""
    for name in ENGINE_MODULES:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _leave_a_core_free() -> None:
    """Before torch loads: leave one core to the event loop, heartbeat and SQLite threads.
    With every core in OpenMP's pool, a busy 2-core machine made tiny-model steps 80x
    slower (5.9 s vs 73 ms per step, measured), and heartbeats arrived late."""
    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) - 1))


def _engine(args: argparse.Namespace) -> int:
    _require_engine_modules()
    _leave_a_core_free()
    from engine.process import Engine  # torch-free: the GPU libraries load in a moment

    settings = Settings()

    async def serve(db: Database) -> int:
        engine = Engine(settings, db)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, engine.shutdown)
        await engine.announce()  # /status: "loading its model" while the imports run
        from engine.models.library_noise import silence_library_noise

        silence_library_noise()  # before anything imports diffusers (seconds: torch)
        await engine.run(until_idle=args.until_idle)
        return 0

    return _with_database(settings, serve)


def _bot(args: argparse.Namespace) -> int:
    from bot.__main__ import main as bot_main

    return bot_main(sync_commands=args.sync_commands)


def _status(args: argparse.Namespace) -> int:
    from engine.orders.status import build_status

    settings = Settings()

    async def show(db: Database) -> int:
        report = await build_status(db, heartbeat_seconds=settings.heartbeat_seconds)
        if args.json:
            print(json.dumps(report.as_dict(), indent=2))
        else:
            print(_format_status(report.as_dict()))
        return 0

    return _with_database(settings, show)


def _eval(args: argparse.Namespace) -> int:
    from engine.orders.scores_report import PetNotFound, find_pet, format_report, scores_report

    settings = Settings()

    async def show(db: Database) -> int:
        try:
            subject = await find_pet(db, args.name, args.owner)
        except PetNotFound as err:
            print(err, file=sys.stderr)
            return 1
        report = await scores_report(db, settings, subject)
        print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
        return 0

    return _with_database(settings, show)


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    """Open (migrating if needed) the database, run ``work`` with it, close it."""
    from engine.store import Database

    async def run() -> int:
        async with await Database.open(settings.database_target) as db:
            return await work(db)

    return asyncio.run(run())


def _format_status(report: dict) -> str:
    from engine.orders.status import duration, engine_state

    lines = ["JOBS"]
    for job in report["jobs"]:
        where = f"#{job['position']} in queue" if job["position"] else job["state"]
        # A picture's steps are not recorded as it draws: "step 0/30" would mislead.
        done = [f"step {job['step']}/{job['total_steps']}"] if job["kind"] == "train" else []
        eta = [f"ETA {duration(job['eta_seconds'])}"] if job["eta_seconds"] is not None else []
        error = f" - {job['error']}" if job["error"] else ""
        line = f"  job {job['id']:>4} {job['kind']:<8} {where:<14} {', '.join(done + eta)}"
        lines.append(line.rstrip() + error)
    lines.append("PETS")
    lines += [
        f"  {s['name']} ({s['class_noun']}, token {s['token']}): {s['status']}"
        + (f", {s['model']}" if s.get("model") else "")
        for s in report["subjects"]
    ]
    lines.append("ENGINES")
    lines += [
        f"  {e['engine_id']} on {e['device']}: {engine_state(e)}" for e in report["engines"]
    ] or ["  none running"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
