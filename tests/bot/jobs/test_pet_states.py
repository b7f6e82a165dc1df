"""/status words a waiting pet as its job is worded: "queued"."""

from __future__ import annotations

import simcord

from tests.bot._world import World, reply, train


def field(answer: simcord.ResponseMessage, name: str) -> str:
    [embed] = answer.embeds
    return next(f.value for f in embed.fields if f.name == name) or ""


async def test_a_pet_waiting_for_its_training_reads_queued_like_its_job(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "status"))

    assert "#1 in the queue" in field(answer, "Jobs")
    assert field(answer, "Pets").endswith("): queued")
    assert "pending" not in str(answer.embeds[0].to_dict())
