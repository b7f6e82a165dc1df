"""/status and /cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.jobs._status_embed import server_text, status_embed
from bot.utils.access import is_admin, visible_job
from bot.utils.guild_rules import Action, role_refusal
from engine.orders.status import build_status, server_standing
from engine.store import Job, JobState, jobs

if TYPE_CHECKING:
    from bot.client import PetBooth

ACTIVE = (JobState.QUEUED, JobState.RUNNING)
ROLE_RULED: tuple[Action, ...] = ("train", "imagine")  # what /server roles can keep to roles


class Jobs(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="Your jobs, your pets, and the engine")
    @app_commands.describe(everyone="Admins: show every user's jobs")
    async def status(self, interaction: discord.Interaction, everyone: bool = False) -> None:
        if everyone and not is_admin(interaction.user, self.bot.settings):
            raise UserError("Only admins can see everyone's jobs. `/status` shows yours.")
        owner = None if everyone else interaction.user.id
        report = await build_status(
            self.bot.db, owner_id=owner, heartbeat_seconds=self.bot.settings.heartbeat_seconds
        )
        embed = status_embed(report, everyone=everyone, server=await self._server(interaction))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def _server(self, interaction: discord.Interaction) -> str | None:
        """The caller's standing under this server's rules, before a refusal tells them."""
        standing = await server_standing(self.bot.db, interaction.guild_id, interaction.user.id)
        if standing is None:
            return None
        refusals = (role_refusal(interaction, standing.rules, a) for a in ROLE_RULED)
        return server_text(standing, [r for r in refusals if r is not None])

    @app_commands.command(name="cancel", description="Cancel a training or picture job")
    @app_commands.describe(job="The job number from /status (default: your active job)")
    async def cancel(self, interaction: discord.Interaction, job: int | None = None) -> None:
        admin = is_admin(interaction.user, self.bot.settings)
        if job is None:
            target = await self._only_active_job(interaction.user.id)
        else:
            target = await visible_job(self.bot.db, job, interaction.user.id, admin)
        state = await jobs.cancel(self.bot.db, target.id)
        if state is None:
            raise UserError(f"Job {target.id} already finished ({target.state.value}).")
        text = (
            f"Job {target.id} is cancelled."
            if state is JobState.CANCELLED
            else f"Job {target.id} is stopping; the engine stops it at its next step."
        )
        await interaction.response.send_message(text, ephemeral=True)

    @cancel.autocomplete("job")
    async def _cancel_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        mine = await jobs.list_jobs(self.bot.db, owner_id=interaction.user.id, states=ACTIVE)
        return [
            app_commands.Choice(name=f"Job {j.id}: {j.kind.value}, {j.state.value}", value=j.id)
            for j in mine
            if current in str(j.id)
        ][:25]

    async def _only_active_job(self, user_id: int) -> Job:
        mine = await jobs.list_jobs(self.bot.db, owner_id=user_id, states=ACTIVE)
        if not mine:
            raise UserError("You have no queued or running jobs. `/status` shows your history.")
        if len(mine) > 1:
            numbers = ", ".join(str(j.id) for j in mine)
            raise UserError(
                f"You have {len(mine)} active jobs ({numbers}): say which, "
                f"e.g. `/cancel job:{mine[0].id}`."
            )
        return mine[0]
