"""Pet names of any alphabet, one refusal that says what is wrong with a name, file slugs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.intake import Upload
from engine.orders.enrolment import EnrollmentRefused, TrainingOrder, enrol_subject
from engine.orders.pet_names import file_slug, name_problem, normalise_name
from engine.settings import Settings
from engine.store import Database, subjects
from tests.samples import jpeg

RULE = "Use 1-32 letters or digits (any alphabet), with '-' or '_' between them"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", min_photo_side=64, _env_file=None)


def uploads(count: int, first_seed: int = 0) -> list[Upload]:
    return [Upload(f"cat{i}.jpg", jpeg(first_seed + i, (128, 128))) for i in range(count)]


@pytest.mark.parametrize(
    "name", ["thor", "Тор", "ポチ", "शेरू", "Zoë", "big-thor", "rex_2", "4paws", "x" * 32]
)
def test_letters_and_digits_of_any_alphabet_make_a_name(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("   ", "The name is empty."),
        ("x" * 40, "The name is 40 characters long (at most 32)."),
        ("-rex", "The name starts with '-'."),
        ("big thor", "The name contains a space."),
        ("thor!", "The name contains '!'."),
        ("../../etc", "The name contains '.' and '/'."),
        ("@everyone", "The name contains '@'."),
        ("`rm`", "The name contains a backtick."),
        ("🐱", "The name contains a symbol (cat face)."),
        ("thor\u202eevil", "The name contains an invisible character (RIGHT-TO-LEFT OVERRIDE)."),
        ("_x y@", "The name starts with '_' and contains a space and '@'."),
    ],
)
def test_a_refused_name_is_told_what_is_wrong_with_it(name: str, fault: str) -> None:
    problem = name_problem(name)

    assert problem == f"{fault} {RULE}, e.g. `thor`, `тор` or `big-thor`."
    assert name.strip() == "" or name not in problem  # described, never echoed


def test_names_are_one_pet_whatever_the_case_or_width() -> None:
    assert normalise_name(" Тор ") == normalise_name("ТОР") == "тор"
    assert normalise_name("ｔｈｏｒ") == normalise_name("THOR") == "thor"


@pytest.mark.parametrize(
    ("name", "slug"),
    [("thor", "thor"), ("zoë", "zoe"), ("тор", "pet"), ("big_thor", "big-thor"), ("-a-", "a")],
)
def test_file_slugs_are_ascii_and_never_empty(name: str, slug: str) -> None:
    assert file_slug(name) == slug


async def test_a_cyrillic_name_enrols_and_stays_unique_per_owner(
    db: Database, settings: Settings
) -> None:
    enrolled = await enrol_subject(db, settings, TrainingOrder(7, "Тор", "cat"), uploads(5))

    assert enrolled.subject.name == "тор"
    assert await subjects.by_name(db, 7, "тор") is not None
    # the files it wrote are under the owner's folder, not the name
    assert "тор" not in str(enrolled.contact_sheet)
    with pytest.raises(EnrollmentRefused, match="already have a pet named 'тор'"):
        await enrol_subject(db, settings, TrainingOrder(7, "ТОР", "cat"), uploads(5, 10))
