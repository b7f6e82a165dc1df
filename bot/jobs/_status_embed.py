"""The /status embed: jobs, pets, this server's rules for the caller, engine health."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from bot.utils.format import progress_bar, safe
from engine.orders.guild_rules import discord_time
from engine.orders.status import JobLine, ServerStanding, StatusReport, duration, engine_state

MAX_JOB_LINES = 15  # an embed field holds 1024 characters


def job_text(line: JobLine, show_owner: bool) -> str:
    owner = f" for <@{line.owner_id}>" if show_owner else ""
    head = f"**Job {line.id}** ({line.kind}){owner}: "
    if line.state == "queued":
        return head + f"#{line.position} in the queue, done in about {duration(line.eta_seconds)}"
    if line.state == "running":
        if line.kind == "train" and line.total_steps:
            return head + (
                f"{progress_bar(line.step, line.total_steps, 10)} step {line.step}/"
                f"{line.total_steps}, about {duration(line.eta_seconds)} left"
            )
        return head + "running"
    if line.state == "failed" and line.error:
        return head + f"failed: {safe(line.error[:200])}"
    return head + line.state


def engine_text(report: StatusReport) -> str:
    """Every engine the report knows, live ones first (alive: `engine.orders.liveness`)."""
    lines = [
        f"`{e['engine_id']}` on {e['device']}: {engine_state(e)}"
        for e in sorted(report.engines, key=lambda e: not e["alive"])
    ]
    if not any(e["alive"] for e in report.engines):
        lines.insert(0, "No engine running: jobs wait in the queue until one starts.")
    return "\n".join(lines)


def quota_text(limits: tuple[int | None, int | None], used: tuple[int, int]) -> str:
    """One quota's use today, the caller's then the server's, of those set: "3 of 10 (you,
    7 left), 41 of 100 (server, 59 left)"; empty when neither is."""
    return ", ".join(
        f"{spent} of {limit} ({who}, {max(limit - spent, 0)} left)"
        for limit, spent, who in zip(limits, used, ("you", "server"), strict=True)
        if limit is not None
    )


def server_text(standing: ServerStanding, kept_from: Iterable[str]) -> str:
    """Paused or not; each quota set ("Pictures today: 3 of 10 (you, 7 left) · resets
    <t:...:R>"); then ``kept_from``, the refusals the server's roles hold for the caller."""
    rules, mine, everyone = standing.rules, standing.mine, standing.everyone
    paused = "**yes**: /train, /grow, /imagine and picture buttons refuse new work"
    lines = [f"Paused: {paused if rules.paused else 'no'}"]
    trainings = quota_text(
        (rules.daily_trainings_per_user, rules.daily_trainings_per_guild),
        (mine.trainings, everyone.trainings),
    )
    pictures = quota_text(
        (rules.daily_pictures_per_user, rules.daily_pictures_per_guild),
        (mine.pictures, everyone.pictures),
    )
    resets = discord_time(standing.resets_at)
    lines += [
        f"{noun} today: {used} · resets {resets}"
        for noun, used in (("Trainings", trainings), ("Pictures", pictures))
        if used
    ]
    return "\n".join([*lines, *kept_from])


def status_embed(
    report: StatusReport, *, everyone: bool, server: str | None = None
) -> discord.Embed:
    """``server``: the "This server" section (``server_text``); None in DMs and in
    servers whose rules keep nobody from anything."""
    embed = discord.Embed(title="Everyone's jobs" if everyone else "Your petbooth")
    lines = [job_text(line, show_owner=everyone) for line in report.jobs[-MAX_JOB_LINES:]]
    embed.add_field(name="Jobs", value="\n".join(lines)[:1024] or "None.", inline=False)
    if not everyone:
        pets = [
            f"**{safe(s['name'])}** ({safe(s['class_noun'])}, token `{s['token']}`): {s['status']}"
            + (f", {s['model']}" if s.get("model") else "")
            for s in report.subjects
        ]
        embed.add_field(
            name="Pets",
            value="\n".join(pets)[:1024] or "None yet: start with /train.",
            inline=False,
        )
    if server is not None:
        embed.add_field(name="This server", value=server[:1024], inline=False)
    embed.add_field(name="Engine", value=engine_text(report)[:1024], inline=False)
    return embed
