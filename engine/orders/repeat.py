"""The order that drew a job's pictures, asked again (torch-free): what Reroll, More like
these, Vary and Upscale queue, in the bot and in `petbooth vary` / `upscale` alike."""

from __future__ import annotations

from engine.orders.imagine import ImagineOrder, ImagineRefused
from engine.orders.variations import Variation, VariationOf, as_variation, picture_to_redraw
from engine.settings import Settings
from engine.store import Database, Job, Subject, jobs, subjects


async def order_repeating(
    db: Database,
    job: Job,
    *,
    seed: int | None,
    guild_id: int | None = None,
    channel_id: int | None = None,
    age_restricted: bool = False,
    out_dir: str | None = None,
) -> ImagineOrder:
    """``job``'s order with ``seed`` (None: a fresh random one when queued), from where it is
    asked again: that channel decides the server's rules and the safety check, not the
    first one's. A reroll of a variation varies the same picture again."""
    params = job.params
    subject = await subjects.get(db, job.subject_id) if job.subject_id is not None else None
    second = await _second_pet(db, params.get("with_subject_id"))
    return ImagineOrder(
        owner_id=job.owner_id,
        prompt=params.get("raw_prompt") or params["prompt"],
        subject_name=subject.name if subject else None,
        with_pet=second.name if second else None,
        # What the owner typed: the style's words are added again when it is queued.
        negative_prompt=params.get("raw_negative_prompt", params.get("negative_prompt")) or None,
        count=int(params.get("count", 1)),
        seed=seed,
        steps=params.get("steps"),
        guidance_scale=params.get("guidance_scale"),
        aspect=params.get("aspect", "square"),
        checkpoint_step=params.get("checkpoint_step"),
        lora_scale=float(params.get("lora_scale", 1.0)),  # 1.0: queued before it existed
        style=params.get("style"),
        variation_of=VariationOf.from_params(params),
        guild_id=guild_id,
        channel_id=channel_id,
        age_restricted=age_restricted,
        out_dir=out_dir,
    )


async def variation_order(
    db: Database,
    settings: Settings,
    owner_id: int,
    job_id: int,
    picture: int,
    kind: Variation,
    *,
    guild_id: int | None = None,
    channel_id: int | None = None,
    age_restricted: bool = False,
    out_dir: str | None = None,
) -> ImagineOrder:
    """Vary or Upscale: picture `picture` (1-based) of the owner's job `job_id`, checked,
    then redrawn by the order that drew it, from where it is asked (the bot's buttons: the
    channel they were pressed in; `petbooth vary` / `upscale`: none)."""
    variation = await picture_to_redraw(db, settings, owner_id, job_id, picture, kind)
    job = await jobs.get(db, job_id)
    if job is None:  # forgotten since the check a moment ago
        raise ImagineRefused([f"There are no pictures of job {job_id}: its pet was forgotten."])
    order = await order_repeating(
        db,
        job,
        seed=None,
        guild_id=guild_id,
        channel_id=channel_id,
        age_restricted=age_restricted,
        out_dir=out_dir,
    )
    return as_variation(settings, order, variation)


async def _second_pet(db: Database, second_id: object) -> Subject | None:
    """The picture's second pet, if it had one (the job belongs to the first). A forgotten
    one is refused here: without it, the prompt's TOK2 would be refused as a puzzle."""
    if second_id is None:
        return None
    second = await subjects.get(db, int(str(second_id)))
    if second is None:
        raise ImagineRefused(
            ["The second pet in this picture was deleted: ask for a new picture without it."]
        )
    return second
