"""Sharding: the settings that pick discord.py's AutoShardedClient, and the real sharded bot
answering slash commands in guilds on different shards of simcord's gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
import simcord
from pydantic import ValidationError

from bot.client import PetBooth, ShardedPetBooth, make_bot
from engine.store import Database
from tests.bot._world import bot_settings, reply


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"discord_shard_ids": (0,)}, "needs discord_shard_count"),
        ({"discord_shard_count": 2, "discord_shard_ids": (2,)}, "from 0 to 1, got [2]"),
        ({"discord_shard_count": 4, "discord_shard_ids": (1, 1)}, "distinct"),
    ],
)
def test_inconsistent_shard_settings_are_refused(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        bot_settings(tmp_path, **overrides)


async def test_the_settings_pick_the_client(tmp_path: Path, db: Database) -> None:
    plain = make_bot(bot_settings(tmp_path), db)
    auto = make_bot(bot_settings(tmp_path, discord_auto_shard=True), db)
    mine = make_bot(bot_settings(tmp_path, discord_shard_count=4, discord_shard_ids=(2, 3)), db)

    assert type(plain) is PetBooth
    assert isinstance(auto, ShardedPetBooth) and auto.shard_count is None  # Discord's count
    assert isinstance(mine, ShardedPetBooth)
    assert (mine.shard_count, mine.shard_ids) == (4, [2, 3])


async def test_a_sharded_bot_answers_in_guilds_on_every_shard(tmp_path: Path, db: Database) -> None:
    settings = bot_settings(tmp_path, discord_shard_count=2, discord_shard_ids=(0, 1))
    env = simcord.Env(make_bot(settings, db, sync_commands=True), shard_count=2)
    await env.start()
    try:
        guilds = [env.create_guild(f"Pets {i}", shard_id=i % 2) for i in range(4)]
        for guild in guilds:
            channel = guild.create_text_channel("pets")
            member = guild.add_member(env.create_user(f"owner of {guild.name}"))
            answer = reply(await member.slash(channel, "status"))
            assert answer.ephemeral and answer.embeds
        seen = env.bot.get_guild  # the bot's own view: each guild arrived on its shard
        assert sorted(seen(g.id).shard_id for g in guilds) == [0, 0, 1, 1]  # type: ignore[union-attr]
    finally:
        await env.shutdown()
    assert not env.errors
