"""/status's "This server": a member learns the server's rules and what is left of its
quotas today before a refusal tells them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import simcord

from engine.store import Database, guilds
from engine.store.guilds import DAY_SECONDS, GuildRules
from tests.bot._world import World, imagine, reply


async def set_rules(world: World, db: Database, edit: Callable[[GuildRules], GuildRules]) -> None:
    """What a server admin's /server commands store (tests/bot/server drives those)."""
    await guilds.change(db, world.guild.id, updated_by=world.admin.id, edit=edit)


def server_section(answer: simcord.ResponseMessage) -> str | None:
    [embed] = answer.embeds
    return next((f.value for f in embed.fields if f.name == "This server"), None)


async def status_server(world: World) -> str | None:
    """Alice's /status in the guild: its "This server" section, if it has one."""
    return server_section(reply(await world.alice.slash(world.channel, "status")))


async def test_quotas_show_what_is_used_and_left_and_move_after_an_imagine(
    world: World, db: Database
) -> None:
    await set_rules(
        world, db, lambda r: replace(r, daily_pictures_per_user=10, daily_pictures_per_guild=100)
    )
    await world.bob.slash(world.channel, "imagine", prompt="a lighthouse", count=2)

    before = await status_server(world)
    assert before is not None
    assert before.startswith("Paused: no\nPictures today: 0 of 10 (you, 10 left), 2 of 100 ")
    assert "Trainings" not in before  # no training quota set
    reset = re.search(r"· resets <t:(\d+):R>", before)
    assert reset is not None and int(reset[1]) % DAY_SECONDS == 0  # at 00:00 UTC

    await imagine(world, prompt="a lighthouse", count=3)

    after = await status_server(world)
    assert after is not None
    assert "Pictures today: 3 of 10 (you, 7 left), 5 of 100 (server, 95 left)" in after


async def test_a_server_without_rules_has_no_section(world: World, db: Database) -> None:
    assert await status_server(world) is None
    # The safety filter keeps no member from anything: still no section.
    await set_rules(world, db, lambda r: replace(r, safety_filter=False))
    assert await status_server(world) is None


async def test_pause_and_a_role_the_member_lacks_are_said(
    world: World, db: Database, env: simcord.Env
) -> None:
    artists = world.guild.create_role("Artists")
    await set_rules(world, db, lambda r: replace(r, paused=True, imagine_role_ids=(artists.id,)))
    paused = "Paused: **yes**: /train, /grow, /imagine and picture buttons refuse new work"

    assert await status_server(world) == (
        f"{paused}\nOnly members with the @Artists role may /imagine here; ask a server admin."
    )
    erin = world.guild.add_member(env.create_user("erin"), roles=[artists])
    assert server_section(reply(await erin.slash(world.channel, "status"))) == paused


async def test_nothing_in_dms(world: World, db: Database) -> None:
    await set_rules(world, db, lambda r: replace(r, daily_pictures_per_user=10))

    answer = reply(await world.alice.user.slash("status"))

    assert server_section(answer) is None
