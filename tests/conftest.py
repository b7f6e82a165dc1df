"""Shared fixtures. Tests never reach a model hub: the tiny SDXL is built from config here."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: tests must never reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer
from tests.s3 import S3Server, running_s3


def pytest_configure(config: pytest.Config) -> None:
    # Here rather than beside the bot fixtures: tests/bot and tests/system both use it.
    config.addinivalue_line(
        "markers", "bot_errors_expected: the test provokes unexpected errors on purpose"
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SDXL pipeline saved with save_pretrained (about 11 MB), built once."""
    from engine.models.tiny import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, one per session; each test takes its own bucket."""
    with running_s3() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session (started only if a test asks for it)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """What `Database.open` takes, once per backend: a SQLite file, a fresh PostgreSQL
    database's URL. The store's tests run on both."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.fresh_database()
