"""/imagine's style choice: the reply shows the words it adds, and a reroll keeps the style
without adding its words twice."""

from __future__ import annotations

from types import SimpleNamespace

from bot.imagine._orders import order_like
from engine.orders.imagine import enqueue_imagine
from engine.orders.styles import STYLES
from engine.settings import Settings
from engine.store import Database, jobs
from tests.bot._world import World, imagine, trained_subject


async def test_a_style_is_drawn_and_shown_without_the_pets_token(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings)
    anime = STYLES["anime"]

    text = await imagine(world, prompt="TOK cat on a bike", negative="dogs", style="anime")

    job = (await jobs.list_jobs(db, owner_id=world.alice.id))[-1]
    assert job.params["prompt"] == f"{subject.token} cat on a bike, {anime.prompt}"
    assert job.params["negative_prompt"] == f"dogs, {anime.negative}"
    assert "Style **anime**: the prompt is TOK cat on a bike, anime illustration" in text
    assert f"and the negative prompt dogs, {anime.negative}" in text
    assert subject.token not in text


async def test_a_reroll_keeps_the_style_and_adds_its_words_once(
    world: World, db: Database, settings: Settings
) -> None:
    await trained_subject(world, db, settings)
    await imagine(world, prompt="TOK cat", negative="dogs", style="oil painting")
    first = (await jobs.list_jobs(db, owner_id=world.alice.id))[-1]
    pressed_in = SimpleNamespace(guild_id=world.guild.id, channel_id=world.channel.id)

    again = await order_like(db, first, pressed_in, seed=None)  # type: ignore[arg-type]
    queued = await enqueue_imagine(db, settings, again)

    assert again.style == "oil painting" and again.negative_prompt == "dogs"
    assert queued.params["prompt"] == first.params["prompt"]
    assert queued.params["negative_prompt"] == first.params["negative_prompt"]
