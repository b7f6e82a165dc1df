"""/server: a server admin's roles, quotas and pause switch, as members meet them."""

from __future__ import annotations

import re

import discord
import pytest
import simcord
from simcord import MemberActor

from bot.client import PetBooth
from engine.settings import Settings
from engine.store import Database, guilds
from engine.store.guilds import DAY_SECONDS
from tests.bot._world import World, bot_messages, imagine, reply, train, trained_subject
from tests.bot.imagine.test_buttons import generated


@pytest.fixture
def manager(world: World, env: simcord.Env) -> MemberActor:
    """A member with Manage Server: the one Discord shows /server to."""
    mods = world.guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    return world.guild.add_member(env.create_user("dana"), roles=[mods])


async def server(manager: MemberActor, world: World, sub: str, **options: object) -> str:
    """/server <sub> by the manager: the text they were answered."""
    return reply(await manager.slash(world.channel, f"server {sub}", **options)).content


async def test_a_role_keeps_imagine_and_train_to_its_members(
    world: World, manager: MemberActor
) -> None:
    artists = world.guild.create_role("Artists")
    answer = await server(manager, world, "roles", command="imagine", role=artists)
    assert answer == (
        "May /imagine here: members with @Artists, and server managers (was: everyone)."
    )
    await server(manager, world, "roles", command="train", role=artists)

    refusal = "Only members with the @Artists role may /{} here; ask a server admin."
    assert await imagine(world, prompt="a lighthouse") == refusal.format("imagine")
    assert reply(await train(world.alice, world.channel)).content == refusal.format("train")


async def test_members_without_manage_server_cannot_use_server(
    world: World, env: simcord.Env, db: Database
) -> None:
    with pytest.raises(simcord.SetupError, match="default-member-permissions"):
        await world.bob.slash(world.channel, "server show")  # Discord hides it from them
    # A server may grant the command to anyone in its settings: the bot still refuses.
    assert isinstance(env.bot, PetBooth)
    [command] = [c for c in await env.bot.tree.fetch_commands() if c.name == "server"]
    world.guild.set_command_permissions(command, {world.bob: True})
    refused = reply(await world.bob.slash(world.channel, "server pause", state="on"))
    assert refused.content == "Only members with the Manage Server permission can use /server."
    assert not (await guilds.get(db, world.guild.id)).paused


async def test_show_lists_the_rules(world: World, manager: MemberActor) -> None:
    await server(manager, world, "quota", what="pictures-per-user", limit=5)
    await server(manager, world, "pause", state="on")
    await server(manager, world, "safety", state="off")

    shown = await server(manager, world, "show")
    assert "Paused: **yes**" in shown
    assert "May /imagine: everyone" in shown
    assert "Pictures a day per member: 5" in shown
    assert "Pictures a day for the server: unlimited" in shown
    assert "Safety filter: off" in shown
    assert f"Last changed by <@{manager.id}>" in shown


async def test_a_quota_refusal_names_the_limit_and_when_it_resets(
    world: World, manager: MemberActor
) -> None:
    answer = await server(manager, world, "quota", what="pictures-per-user", limit=1)
    assert answer.startswith("Pictures a day per member: 1 (was: unlimited).")
    await imagine(world, prompt="a lighthouse")

    refusal = await imagine(world, prompt="a lighthouse")
    assert "This server allows 1 picture a day per member" in refusal
    reset = re.search(r"<t:(\d+):R>", refusal)
    assert reset is not None and int(reset[1]) % DAY_SECONDS == 0  # at 00:00 UTC


async def test_picture_buttons_refuse_while_paused(
    world: World, db: Database, env: simcord.Env, settings: Settings, manager: MemberActor
) -> None:
    await trained_subject(world, db, settings)
    await generated(world, db, env, settings)
    await server(manager, world, "pause", state="on")

    refused = reply(await world.alice.click(bot_messages(world.channel)[-1], label="Reroll"))
    assert refused.content.startswith("A server admin paused new trainings and pictures here")
