"""Where uploaded files and fine-tuning jobs live: SQLite, in memory by default.

With one worker the database is ``:memory:`` (state is lost when the simulator stops).
With several worker processes they share one SQLite file, so a job created through one
worker is visible through the others. Records are JSON documents; job status is not
stored but derived from timestamps (see ``finetune.py``), so nothing runs in the background.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, meta BLOB NOT NULL, content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, fine_tuned_model TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_model ON jobs (fine_tuned_model);
"""


class Store:
    def __init__(self, path: str | None) -> None:
        self.path = path or ":memory:"
        self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # files
    def put_file(self, meta: dict[str, Any], content: bytes) -> None:
        self._db.execute(
            "INSERT INTO files (id, created_at, meta, content) VALUES (?, ?, ?, ?)",
            (meta["id"], meta["created_at"], orjson.dumps(meta), content),
        )

    def get_file(self, file_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT meta FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def file_content(self, file_id: str) -> bytes | None:
        row = self._db.execute("SELECT content FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def list_files(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT meta FROM files ORDER BY created_at DESC, id DESC")
        return [dict(orjson.loads(r[0])) for r in rows]

    def delete_file(self, file_id: str) -> bool:
        return self._db.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0

    # jobs
    def put_job(self, record: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO jobs (id, created_at, fine_tuned_model, record) "
            "VALUES (?, ?, ?, ?)",
            (record["id"], record["created_at"], record["fine_tuned_model"], orjson.dumps(record)),
        )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def job_for_model(self, model: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT record FROM jobs WHERE fine_tuned_model = ?", (model,)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def list_jobs(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT record FROM jobs ORDER BY created_at DESC, id DESC")
        return [dict(orjson.loads(r[0])) for r in rows]
