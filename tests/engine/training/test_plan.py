"""The memory planner: the fastest plan that fits a budget, and the next smaller one."""

from __future__ import annotations

from engine.settings import TrainingDefaults
from engine.training.plan import (
    TrainingPlan,
    caching_step_down,
    lighter_for_pictures,
    plan_training,
    step_down,
)

SDXL = TrainingDefaults(resolution=1024, effective_batch=4)


def split(plan: TrainingPlan | None) -> tuple[int, bool] | None:
    return None if plan is None else (plan.micro_batch, plan.gradient_checkpointing)


def test_a_large_card_trains_4_at_once_without_checkpointing_encoders_resident() -> None:
    plan = plan_training(SDXL, 125.0, cuda=True)  # an H200, less the margin
    assert split(plan) == (4, False) and plan.encoders_resident and plan.fits
    assert plan.encode_batch == 4 and not plan.vae_tiling and plan.scorers_on_gpu


def test_a_24_gib_card_checkpoints_rather_than_halve_the_micro_batch() -> None:
    # 4 x 1 checkpointed: 0.72 s and at most 18.9 GiB; 2 x 2 without: 0.95 s and 19.6 GiB.
    plan = plan_training(SDXL, 24.0, cuda=True)
    assert split(plan) == (4, True) and plan.encoders_resident


def test_a_16_gib_card_halves_the_micro_batch_and_encodes_one_photo_at_a_time() -> None:
    plan = plan_training(SDXL, 16.0, cuda=True)
    assert split(plan) == (2, True) and plan.encoders_resident
    assert plan.encode_batch == 1 and not plan.vae_tiling


def test_a_small_budget_parks_the_encoders_and_tiles_the_vae() -> None:
    plan = plan_training(SDXL, 10.0, cuda=True)
    assert split(plan) == (1, True) and plan.fits
    assert not plan.encoders_resident and plan.vae_tiling and plan.encode_batch == 1


def test_nothing_fitting_gives_the_smallest_plan_and_says_so() -> None:
    plan = plan_training(SDXL, 4.0, cuda=True)
    assert split(plan) == (1, True) and not plan.fits
    assert "does not fit" in plan.describe(4)


def test_smaller_pictures_fit_bigger_plans() -> None:
    assert split(plan_training(TrainingDefaults(resolution=512), 16.0, cuda=True)) == (4, False)


def test_explicit_settings_win_over_the_planner() -> None:
    told = TrainingDefaults(resolution=1024, micro_batch=1, gradient_checkpointing="on")
    assert split(plan_training(told, 125.0, cuda=True)) == (1, True)


def test_the_cpu_has_no_budget_and_one_sample_a_pass() -> None:
    plan = plan_training(SDXL, None, cuda=False)
    assert split(plan) == (1, False) and plan.encoders_resident and not plan.scorers_on_gpu


def test_stepping_down_parks_the_encoders_then_takes_the_fastest_smaller_split() -> None:
    plan: TrainingPlan | None = plan_training(SDXL, 125.0, cuda=True)
    ladder = []
    while plan is not None:
        ladder.append((*split(plan), plan.encoders_resident))  # type: ignore[misc]
        plan = step_down(plan, SDXL, cuda=True)
    assert ladder == [
        (4, False, True),
        (4, False, False),
        (4, True, False),
        (2, True, False),
        (1, True, False),
    ]


def test_lighter_pictures_keep_the_split_and_lower_the_estimate() -> None:
    plan = plan_training(SDXL, 125.0, cuda=True)
    lighter = lighter_for_pictures(plan, SDXL)
    assert split(lighter) == split(plan) and lighter.vae_tiling and not lighter.encoders_resident
    assert lighter.estimated_gib < plan.estimated_gib  # what the log's "peak" says after it
    assert lighter_for_pictures(lighter, SDXL) == lighter


def test_stepping_down_keeps_what_a_setting_fixes() -> None:
    told = TrainingDefaults(resolution=1024, gradient_checkpointing="off")
    plan: TrainingPlan | None = plan_training(told, 125.0, cuda=True)
    seen = []
    while plan is not None:
        seen.append(split(plan))
        plan = step_down(plan, told, cuda=True)
    assert seen == [(4, False), (4, False), (2, False), (1, False)]


def test_caching_steps_down_to_one_photo_then_tiles() -> None:
    plan: TrainingPlan | None = plan_training(SDXL, 125.0, cuda=True)
    seen = []
    while plan is not None:
        seen.append((plan.encode_batch, plan.vae_tiling))
        plan = caching_step_down(plan)
    assert seen == [(4, False), (1, False), (1, True)]
