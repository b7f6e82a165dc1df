"""The recommended step: the rule in `recommend_step`'s docstring, and which step is in use."""

from __future__ import annotations

from dataclasses import replace

from engine.orders.checkpoint_choice import StepInUse, recommend_step, step_in_use
from engine.store import CheckpointScore, Subject, SubjectStatus

MARGIN = 0.02


def scored(step: int, identity: float, clip_text: float) -> CheckpointScore:
    return CheckpointScore(
        job_id=1, step=step, identity=identity, clip_image=0.8, clip_text=clip_text, created_at=0
    )


def test_highest_likeness_among_steps_that_still_follow_prompts() -> None:
    history = [
        scored(100, identity=0.40, clip_text=0.31),  # best prompt fidelity: "any cat"
        scored(200, identity=0.55, clip_text=0.30),  # within the margin: a candidate
        scored(300, identity=0.62, clip_text=0.295),  # within the margin, most like the pet
        scored(400, identity=0.70, clip_text=0.25),  # overfitted: ignores the prompt
    ]
    assert recommend_step(history, {100, 200, 300, 400}, MARGIN) == 300


def test_the_margin_decides_which_steps_are_candidates() -> None:
    history = [scored(100, 0.40, 0.30), scored(200, 0.50, 0.28)]
    assert recommend_step(history, {100, 200}, 0.025) == 200
    assert recommend_step(history, {100, 200}, 0.015) == 100


def test_a_tie_in_likeness_goes_to_the_earlier_step() -> None:
    history = [scored(300, 0.6, 0.3), scored(100, 0.6, 0.3), scored(200, 0.5, 0.3)]
    assert recommend_step(history, {100, 200, 300}, MARGIN) == 100


def test_only_choosable_steps_are_recommended() -> None:
    history = [scored(100, 0.9, 0.3), scored(200, 0.5, 0.3), scored(300, 0.4, 0.3)]
    assert recommend_step(history, {200, 300}, MARGIN) == 200


def test_the_best_prompt_fidelity_is_that_of_the_choosable_steps() -> None:
    # Step 100 is gone; measured against its CLIP-T, step 200 would be out of the margin.
    history = [scored(100, 0.3, 0.40), scored(200, 0.6, 0.30), scored(300, 0.5, 0.29)]
    assert recommend_step(history, {200, 300}, MARGIN) == 200


def test_nothing_scored_recommends_nothing() -> None:
    assert recommend_step([], {500}, MARGIN) is None
    assert recommend_step([scored(100, 0.5, 0.3)], {500}, MARGIN) is None


def pet(chosen: int | None = None, recommended: int | None = None) -> Subject:
    return Subject(
        id=1,
        owner_id=7,
        name="thor",
        class_noun="cat",
        token="ohwx",
        status=SubjectStatus.READY,
        lora_path="jobs/1/lora",
        chosen_step=chosen,
        created_at=0,
        updated_at=0,
        recommended_step=recommended,
    )


def test_the_owners_pick_wins_over_the_recommendation() -> None:
    assert step_in_use(pet(chosen=200, recommended=300)) == StepInUse(200, "picked")
    assert step_in_use(pet(recommended=300)) == StepInUse(300, "recommended")
    assert step_in_use(replace(pet(), recommended_step=None)) == StepInUse(None, "final")


def test_the_step_in_use_says_why() -> None:
    assert StepInUse(300, "recommended").describe() == "step 300, recommended: best likeness"
    assert StepInUse(200, "picked").describe() == "step 200, your pick"
    assert StepInUse(None, "final").describe() == "final step"
