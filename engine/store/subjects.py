"""Subjects (a user's pets) and their photos."""

from __future__ import annotations

from collections.abc import Sequence

from engine.store.database import ConstraintError, Database, Transaction
from engine.store.guilds import keep_use_of_forgotten_tx
from engine.store.records import NewPhoto, Photo, Subject, SubjectStatus

# A cache offline longer than this keeps a forgotten pet's copies until its size limit
# trims them; the rows are a few per forgotten pet.
FORGOTTEN_FOLDERS_KEPT_SECONDS = 90 * 86_400

# Rare-token identifiers: short strings that are one or two CLIP tokens and carry almost no
# meaning, so DreamBooth can bind them to the pet ("sks" is avoided: it is a rifle).
RARE_TOKENS = ("ohwx", "zwx", "qxv", "vlsk", "bnzq", "kbxr", "wjtp", "xyqz", "pfvd", "mqzt")


class SubjectExistsError(ValueError):
    pass


async def pick_token(tx: Transaction, owner_id: int) -> str:
    """The first rare token this owner does not use yet (their LoRAs may be combined)."""
    rows = await tx.fetch_all("SELECT token FROM subjects WHERE owner_id = ?", (owner_id,))
    used = {row[0] for row in rows}
    for token in RARE_TOKENS:
        if token not in used:
            return token
    return f"{RARE_TOKENS[0]}{len(used)}"


async def create_tx(tx: Transaction, *, owner_id: int, name: str, class_noun: str) -> Subject:
    """Insert a pending subject inside the caller's transaction."""
    token = await pick_token(tx, owner_id)
    try:
        row = await tx.fetch_one(
            """INSERT INTO subjects (owner_id, name, class_noun, token, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?) RETURNING *""",
            (owner_id, name, class_noun, token, tx.now, tx.now),
        )
    except ConstraintError as err:
        raise SubjectExistsError(f"You already have a pet named {name!r}.") from err
    assert row is not None
    return Subject.from_row(row)


async def add_photos_tx(
    tx: Transaction,
    subject_id: int,
    photos: Sequence[NewPhoto],
    *,
    grown_by_job_id: int | None = None,
) -> None:
    """A pet's photos; `grown_by_job_id` names the growth (/grow) that adds them."""
    await tx.executemany(
        """INSERT INTO photos (subject_id, path, source_name, sha256, size_bytes, width, height,
                               created_at, grown_by_job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (
                subject_id,
                p.path,
                p.source_name,
                p.sha256,
                p.size_bytes,
                p.width,
                p.height,
                tx.now,
                grown_by_job_id,
            )
            for p in photos
        ],
    )


async def model_job(db: Database, subject_id: int) -> int | None:
    """The training whose LoRA and checkpoints the pet draws with; before its first training
    succeeds, its latest training (a preview's step may be picked while it runs)."""
    row = await db.fetch_one(
        """SELECT COALESCE(model_job_id, (SELECT max(id) FROM jobs WHERE subject_id = subjects.id
                                           AND kind = 'train'))
           FROM subjects WHERE id = ?""",
        (subject_id,),
    )
    return int(row[0]) if row is not None and row[0] is not None else None


async def growing_tx(tx: Transaction, subject_id: int, job_id: int) -> bool:
    """Whether training `job_id` grows a pet that already draws with another training's model
    (it then keeps that model until the growth succeeds)."""
    row = await tx.fetch_one("SELECT model_job_id FROM subjects WHERE id = ?", (subject_id,))
    return row is not None and row[0] is not None and int(row[0]) != job_id


async def adopt_model_tx(
    tx: Transaction,
    subject_id: int,
    job_id: int,
    *,
    lora_path: str | None,
    recommended_step: int | None,
    keep_pick: bool,
) -> None:
    """Training `job_id` succeeded: the pet is ready and draws with its LoRA. A pick made
    from another training's previews names that training's step: it goes (`keep_pick`
    False) when the pet switches models."""
    await tx.execute(
        """UPDATE subjects SET status = 'ready', lora_path = COALESCE(?, lora_path),
               recommended_step = ?, model_job_id = ?,
               chosen_step = CASE WHEN ? THEN chosen_step ELSE NULL END, updated_at = ?
           WHERE id = ?""",
        (lora_path, recommended_step, job_id, keep_pick, tx.now, subject_id),
    )


async def drop_grown_photos_tx(tx: Transaction, job_id: int) -> None:
    """A growth that failed or was cancelled takes its photos with it: the pet's photos stay
    the ones its model learned (the files stay in the pet's folder until /forget)."""
    await tx.execute("DELETE FROM photos WHERE grown_by_job_id = ?", (job_id,))


async def get(db: Database, subject_id: int) -> Subject | None:
    row = await db.fetch_one("SELECT * FROM subjects WHERE id = ?", (subject_id,))
    return Subject.from_row(row) if row else None


async def by_name(db: Database, owner_id: int, name: str) -> Subject | None:
    row = await db.fetch_one(
        "SELECT * FROM subjects WHERE owner_id = ? AND name = ?", (owner_id, name)
    )
    return Subject.from_row(row) if row else None


async def named(db: Database, name: str) -> list[Subject]:
    """Every owner's pet called `name` (the command line does not know the owner)."""
    rows = await db.fetch_all("SELECT * FROM subjects WHERE name = ? ORDER BY id", (name,))
    return [Subject.from_row(r) for r in rows]


async def list_for_owner(db: Database, owner_id: int | None = None) -> list[Subject]:
    if owner_id is None:
        rows = await db.fetch_all("SELECT * FROM subjects ORDER BY id")
    else:
        rows = await db.fetch_all(
            "SELECT * FROM subjects WHERE owner_id = ? ORDER BY id", (owner_id,)
        )
    return [Subject.from_row(r) for r in rows]


async def latest_ready(db: Database, owner_id: int) -> Subject | None:
    row = await db.fetch_one(
        "SELECT * FROM subjects WHERE owner_id = ? AND status = 'ready' "
        "ORDER BY updated_at DESC, id DESC LIMIT 1",
        (owner_id,),
    )
    return Subject.from_row(row) if row else None


async def photos(db: Database, subject_id: int) -> list[Photo]:
    rows = await db.fetch_all(
        "SELECT * FROM photos WHERE subject_id = ? ORDER BY id", (subject_id,)
    )
    return [Photo.from_row(r) for r in rows]


async def set_status_tx(
    tx: Transaction, subject_id: int, status: SubjectStatus, *, lora_path: str | None = None
) -> None:
    """A pet's status (and its final LoRA, when given) inside the caller's transaction."""
    await tx.execute(
        """UPDATE subjects SET status = ?, lora_path = COALESCE(?, lora_path), updated_at = ?
           WHERE id = ?""",
        (status.value, lora_path, tx.now, subject_id),
    )


async def set_status(
    db: Database, subject_id: int, status: SubjectStatus, *, lora_path: str | None = None
) -> None:
    """A pet's status outside a job ending (those go through ``store.endings``)."""
    async with db.transaction() as tx:
        await set_status_tx(tx, subject_id, status, lora_path=lora_path)


async def choose_checkpoint(db: Database, subject_id: int, step: int | None) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE subjects SET chosen_step = ?, updated_at = ? WHERE id = ?",
            (step, tx.now, subject_id),
        )


async def delete(db: Database, subject_id: int, folders: Sequence[str] = ()) -> None:
    """Rows only (photos, jobs and events cascade; what the jobs count against today's
    server quotas is kept); the caller removes the files from storage and its own cache.
    `folders` (their storage keys) are recorded for every other process's cache."""
    async with db.transaction() as tx:
        await keep_use_of_forgotten_tx(tx, subject_id)
        await tx.execute("DELETE FROM subjects WHERE id = ?", (subject_id,))
        await tx.execute(
            "DELETE FROM forgotten_folders WHERE forgotten_at < ?",
            (tx.now - FORGOTTEN_FOLDERS_KEPT_SECONDS,),
        )
        await tx.executemany(
            "INSERT INTO forgotten_folders (folder, forgotten_at) VALUES (?, ?)",
            [(folder, tx.now) for folder in folders],
        )


async def forgotten_folders(db: Database, since: float) -> list[tuple[float, str]]:
    """(when, storage key) of the folders of pets forgotten at `since` or later, oldest
    first. By time, not id: on PostgreSQL a later id can commit before an earlier one."""
    rows = await db.fetch_all(
        "SELECT forgotten_at, folder FROM forgotten_folders WHERE forgotten_at >= ? "
        "ORDER BY forgotten_at, id",
        (since,),
    )
    return [(float(row[0]), str(row[1])) for row in rows]
