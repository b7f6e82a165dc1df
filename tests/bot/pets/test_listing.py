"""/pets: each of your pets with its status, the model in use and its contact sheet."""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Database, endings, jobs
from tests.bot._world import World, reply, train


async def test_pets_lists_each_pet_with_its_state_model_and_contact_sheet(
    world: World, db: Database, settings: Settings
) -> None:
    await train(world.alice, world.channel, name="thor")
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    await endings.succeed(db, job.id, "gpu-0", {}, lora_path="jobs/1/lora", recommended_step=2)
    await train(world.alice, world.channel, name="loki", first_seed=20)

    answer = reply(await world.alice.slash(world.channel, "pets"))

    assert answer.ephemeral
    thor, loki = (embed.to_dict() for embed in answer.embeds)
    assert thor["title"] == "thor (cat)" and thor["description"] == "ready · 5 photos"
    assert thor["fields"][0]["value"] == "step 2, recommended: best likeness"
    assert loki["description"] == "queued · 5 photos" and "fields" not in loki
    names = sorted(a.filename for a in answer.attachments)
    assert names == ["pet1-sheet.jpg", "pet2-sheet.jpg"]
