"""Whether a picture order's pictures pass the safety classifier before they are posted
(torch-free): decided once, when the order is queued, and kept in the job's params."""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Database, guilds


async def needs_safety_check(
    db: Database,
    settings: Settings,
    guild_id: int | None,
    channel_id: int | None,
    age_restricted: bool,
) -> bool:
    """Checked in DMs and in a server's channels that are not age-restricted, unless the
    operator (PETBOOTH_SAFETY__ENABLED) or the server's admin (/server safety off) turned
    the filter off. An order with no channel is the operator's `petbooth imagine`: the
    pictures go to the operator's files, not to Discord, so they are not checked."""
    if not settings.safety.enabled or channel_id is None:
        return False
    if guild_id is None:
        return True  # a DM: Discord has no age restriction there
    if age_restricted:
        return False
    return (await guilds.get(db, guild_id)).safety_filter
