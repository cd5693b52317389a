"""The web app's history: its own tables in the workspace's SQLite catalog.

The app adds tables of its own to the workspace's catalog (``semlab.sqlite``), through the
workspace's public :meth:`~semlab.dataset.Workspace.connect`; the workspace's own tables are
not touched.  They carry a schema version (``serve_meta``,
:data:`SCHEMA_VERSION`) and are brought up to date on opening by the ordered steps in
:data:`MIGRATIONS` (version 1 is the layout before versions were recorded); a catalog whose
serve tables are newer than this semlab is refused.

``serve_images``
    one row per distinct uploaded file: its SHA-256, where the bytes are in the workspace's
    file store (``files/ab/<hash>.tif``, the same content-addressed store ``semlab add``
    uses), shape, dtype, pixel size (µm) and metadata read from the file, data-bar row.
    Uploads are kept out of the workspace's ``images`` table on purpose: they are new images
    to analyse, not training data, so ``semlab embed``/``train``/``map`` see the study as it was.
``serve_uploads``
    one row per upload (also when the same bytes were uploaded before): the image hash,
    the sanitized original file name (display only, never a path), size, whether the bytes
    were already stored, time.
    From version 3 also the analysis options chosen for the upload (``options_json``:
    segment ``method``, ``foreground``, ``phase`` name, prediction ``model``) and the image
    quality checks made on arrival (``quality_json``: ``flags``, ``messages``).
``serve_meta``
    ``key``/``value`` pairs: ``schema_version``.
``serve_jobs``
    one row per requested task of an upload (``predict``, ``segment``, ``quantify``,
    ``map``): status (``queued``, ``running``, ``done``, ``failed``), attempts, the error
    message, the result as JSON and the relative path of a result file (overlay PNG) under
    ``<workspace>/serve/``.

Every write is one short transaction; the catalog runs in WAL mode so readers never wait
for the worker.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Tasks an upload can ask for, in the order they run.
TASKS = ("segment", "quantify", "predict", "map")
#: Job states.
STATUSES = ("queued", "running", "done", "failed")
#: A job interrupted this many times (server stopped while it ran) is marked failed.
MAX_ATTEMPTS = 3

_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS serve_images (
        hash              TEXT PRIMARY KEY,
        stored_path       TEXT NOT NULL,
        original_name     TEXT NOT NULL,
        size_bytes        INTEGER NOT NULL,
        rows              INTEGER NOT NULL,
        cols              INTEGER NOT NULL,
        dtype             TEXT NOT NULL,
        pixel_size_um     REAL,
        pixel_size_source TEXT,
        databar_row       INTEGER,
        databar_source    TEXT,
        metadata_json     TEXT NOT NULL,
        added_at          TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS serve_uploads (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        image_hash    TEXT NOT NULL,
        original_name TEXT NOT NULL,
        size_bytes    INTEGER NOT NULL,
        duplicate     INTEGER NOT NULL,
        uploaded_at   TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS serve_uploads_hash ON serve_uploads(image_hash)",
    """CREATE TABLE IF NOT EXISTS serve_jobs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        upload_id   INTEGER NOT NULL REFERENCES serve_uploads(id),
        image_hash  TEXT NOT NULL,
        task        TEXT NOT NULL,
        status      TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        error       TEXT,
        result_json TEXT,
        artifact    TEXT,
        created_at  TEXT NOT NULL,
        started_at  TEXT,
        finished_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS serve_jobs_upload ON serve_jobs(upload_id)",
    "CREATE INDEX IF NOT EXISTS serve_jobs_status ON serve_jobs(status)",
)

#: Version of the serve tables this semlab writes.
SCHEMA_VERSION = 3
#: Statements that bring the serve tables from version ``v - 1`` to ``v``, in order.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: _SCHEMA_V1,
    2: (
        "CREATE TABLE IF NOT EXISTS serve_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # the image page asks for the newest finished job of each task of an image
        "CREATE INDEX IF NOT EXISTS serve_jobs_image_task ON serve_jobs(image_hash, task, status)",
    ),
    3: (
        # per-upload analysis options and the quality checks made on arrival (JSON objects)
        "ALTER TABLE serve_uploads ADD COLUMN options_json TEXT",
        "ALTER TABLE serve_uploads ADD COLUMN quality_json TEXT",
    ),
}


def schema_version(conn: sqlite3.Connection) -> int:
    """Version of the serve tables in a catalog: 0 when there are none, 1 before versions were recorded."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "serve_meta" in tables:
        row = conn.execute("SELECT value FROM serve_meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            return int(row[0])
    return 1 if "serve_jobs" in tables else 0


def migrate(conn: sqlite3.Connection, catalog: Path | str = "catalog") -> int:
    """Bring the serve tables up to :data:`SCHEMA_VERSION` in one transaction; the version found.

    Raises
    ------
    WorkspaceError
        The tables are newer than this semlab.
    """
    from semlab.errors import WorkspaceError

    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{catalog}: the web app's tables have schema version {found}, newer than this semlab "
                f"reads ({SCHEMA_VERSION}); upgrade semlab"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        if found < SCHEMA_VERSION:
            conn.execute(
                "INSERT OR REPLACE INTO serve_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def now() -> str:
    """ISO 8601 time, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Uploads and jobs of the web app, in the workspace's catalog (through :meth:`Workspace.connect`).

    Opening brings the serve tables up to :data:`SCHEMA_VERSION` (:func:`migrate`).
    """

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.catalog = Path(workspace.catalog)
        self._progress: dict[int, dict[str, Any]] = {}
        self._progress_lock = threading.Lock()
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn, self.catalog)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self.workspace.connect() as conn:
            conn.row_factory = sqlite3.Row
            yield conn

    # -- writing ---------------------------------------------------------------------------

    def add_image(self, row: dict[str, Any]) -> bool:
        """Catalogue an uploaded image (columns of ``serve_images``); ``False`` if it was there."""
        row = {**row, "added_at": now()}
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._connect() as conn:
            cur = conn.execute(f"INSERT OR IGNORE INTO serve_images ({cols}) VALUES ({marks})", row)
            return cur.rowcount == 1

    def add_upload(
        self,
        image_hash: str,
        original_name: str,
        size_bytes: int,
        duplicate: bool,
        tasks: list[str],
        *,
        options: dict[str, Any] | None = None,
        quality: dict[str, Any] | None = None,
    ) -> tuple[int, list[int]]:
        """Record an upload and queue its tasks (one transaction); (upload id, job ids).

        ``options`` (the analyses' choices) and ``quality`` (arrival checks) are stored as JSON.
        """
        from semlab._util import to_jsonable

        t = now()
        opts = json.dumps(to_jsonable(options or {}), ensure_ascii=False, allow_nan=False)
        qual = (
            json.dumps(to_jsonable(quality), ensure_ascii=False, allow_nan=False)
            if quality is not None
            else None
        )
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT INTO serve_uploads (image_hash, original_name, size_bytes, duplicate, uploaded_at, "
                    "options_json, quality_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (image_hash, original_name, int(size_bytes), int(duplicate), t, opts, qual),
                )
                upload_id = int(cur.lastrowid or 0)
                jobs = []
                for task in tasks:
                    cur = conn.execute(
                        "INSERT INTO serve_jobs (upload_id, image_hash, task, status, created_at) "
                        "VALUES (?, ?, ?, 'queued', ?)",
                        (upload_id, image_hash, task, t),
                    )
                    jobs.append(int(cur.lastrowid or 0))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return upload_id, jobs

    def start(self, job_id: int) -> sqlite3.Row | None:
        """Mark a queued job running (attempts + 1); the job's row, or ``None`` if it is not queued."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "UPDATE serve_jobs SET status = 'running', attempts = attempts + 1, started_at = ?, "
                    "error = NULL WHERE id = ? AND status = 'queued'",
                    (now(), job_id),
                )
                row = (
                    conn.execute(
                        "SELECT j.*, u.options_json FROM serve_jobs j JOIN serve_uploads u ON u.id = j.upload_id "
                        "WHERE j.id = ?",
                        (job_id,),
                    ).fetchone()
                    if cur.rowcount
                    else None
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return row

    def finish(
        self,
        job_id: int,
        *,
        result: dict | None = None,
        artifact: str | None = None,
        error: str | None = None,
        transient: bool = False,
    ) -> None:
        """Store a job's result (status ``done``) or its error (status ``failed``; its result is then
        ``{"transient": transient}``: whether running it again may succeed, e.g. after running out of memory)."""
        status = "failed" if error is not None else "done"
        from semlab._util import to_jsonable

        if error is not None:
            result = {"transient": bool(transient)}
        self.set_progress(job_id, None)

        text = (
            json.dumps(to_jsonable(result), ensure_ascii=False, allow_nan=False)
            if result is not None
            else None
        )
        with self._connect() as conn:
            conn.execute(
                "UPDATE serve_jobs SET status = ?, result_json = ?, artifact = ?, error = ?, finished_at = ? "
                "WHERE id = ?",
                (status, text, artifact, error, now(), job_id),
            )

    def retry(self, job_id: int) -> bool:
        """Queue a failed job again (attempts reset); ``False`` if it is not failed."""
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE serve_jobs SET status = 'queued', attempts = 0, error = NULL, result_json = NULL, "
                "finished_at = NULL "
                "WHERE id = ? AND status = 'failed'",
                (job_id,),
            )
            return cur.rowcount == 1

    def recover(self) -> list[int]:
        """After a restart: jobs left ``running`` or ``queued`` are queued again, or marked failed
        (retry-able) once they were interrupted :data:`MAX_ATTEMPTS` times.  The ids to run."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "UPDATE serve_jobs SET status = 'failed', finished_at = ?, error = ?, "
                    """result_json = '{"transient": true}' WHERE status = 'running' AND attempts >= ?""",
                    (
                        now(),
                        f"interrupted {MAX_ATTEMPTS} times by server restarts; press retry "
                        "(POST /api/jobs/ID/retry) to run it again",
                        MAX_ATTEMPTS,
                    ),
                )
                conn.execute("UPDATE serve_jobs SET status = 'queued' WHERE status = 'running'")
                ids = [
                    r[0]
                    for r in conn.execute("SELECT id FROM serve_jobs WHERE status = 'queued' ORDER BY id")
                ]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return ids

    # -- reading ---------------------------------------------------------------------------

    def image(self, image_hash: str) -> dict[str, Any] | None:
        """The ``serve_images`` row of an upload (``metadata`` decoded), or ``None``."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM serve_images WHERE hash = ?", (image_hash,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["metadata"] = json.loads(d.pop("metadata_json"))
        return d

    def pixel_sizes(self, hashes: set[str]) -> dict[str, float | None]:
        """µm per pixel of uploaded (or workspace) images by hash."""
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        with self._connect() as conn:
            out = dict(
                conn.execute(f"SELECT hash, pixel_size_um FROM images WHERE hash IN ({marks})", list(hashes))
            )
            out.update(
                conn.execute(
                    f"SELECT hash, pixel_size_um FROM serve_images WHERE hash IN ({marks})", list(hashes)
                )
            )
        return out

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM serve_jobs WHERE id = ?", (job_id,)).fetchone()
        return self._with_progress(_job_dict(row)) if row is not None else None

    def latest_result(self, image_hash: str, task: str) -> dict[str, Any] | None:
        """The newest finished job of ``task`` on an image (any upload), or ``None``."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM serve_jobs WHERE image_hash = ? AND task = ? AND status = 'done' "
                "ORDER BY id DESC LIMIT 1",
                (image_hash, task),
            ).fetchone()
        return _job_dict(row) if row is not None else None

    def placements(self) -> list[dict[str, Any]]:
        """Uploaded images placed on the map: the newest finished ``map`` job of each image, with
        ``image_hash``, ``upload_id``, ``original_name``, ``x``, ``y``, ``job_id``; newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT j.id AS job_id, j.upload_id, j.image_hash, u.original_name, "
                "json_extract(j.result_json, '$.x') AS x, json_extract(j.result_json, '$.y') AS y "
                "FROM serve_jobs j JOIN serve_uploads u ON u.id = j.upload_id "
                "WHERE j.task = 'map' AND j.status = 'done' AND j.id IN "
                "(SELECT MAX(id) FROM serve_jobs WHERE task = 'map' AND status = 'done' GROUP BY image_hash) "
                "ORDER BY j.id DESC"
            ).fetchall()
        return [dict(r) for r in rows if r["x"] is not None and r["y"] is not None]

    def uploads(
        self,
        *,
        q: str | None = None,
        task: str | None = None,
        status: str | None = None,
        image_hash: str | None = None,
        label: str | None = None,
        upload_id: int | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Uploads, newest first, each with its jobs.

        ``q`` matches the file name, the image hash prefix or a predicted label (substring,
        case-insensitive); ``task``/``status`` keep uploads that have a job of that task /
        in that state; ``label`` keeps uploads predicted exactly so.
        """
        where, args = _filters(
            q=q, task=task, status=status, image_hash=image_hash, label=label, upload_id=upload_id
        )
        sql = f"SELECT * FROM serve_uploads u{where} ORDER BY u.id DESC LIMIT ? OFFSET ?"
        with self._connect() as conn:
            uploads = [dict(r) for r in conn.execute(sql, [*args, int(limit), int(offset)])]
            if uploads:
                ids = [u["id"] for u in uploads]
                marks = ",".join("?" * len(ids))
                jobs = conn.execute(
                    f"SELECT * FROM serve_jobs WHERE upload_id IN ({marks}) ORDER BY id", ids
                ).fetchall()
            else:
                jobs = []
        by_upload: dict[int, list[dict[str, Any]]] = {}
        for j in jobs:
            by_upload.setdefault(j["upload_id"], []).append(_job_dict(j))
        for u in uploads:
            u["duplicate"] = bool(u["duplicate"])
            u["options"] = json.loads(u.pop("options_json", None) or "{}")
            u["quality"] = json.loads(u.pop("quality_json", None) or "null")
            u["jobs"] = [self._with_progress(j) for j in by_upload.get(u["id"], [])]
        return uploads

    def counts(
        self,
        *,
        q: str | None = None,
        task: str | None = None,
        status: str | None = None,
        label: str | None = None,
    ) -> dict[str, int]:
        """Uploads, distinct images and jobs by state, of the uploads the filters keep (as in :meth:`uploads`,
        without its limit); all of them without filters."""
        where, args = _filters(q=q, task=task, status=status, label=label)
        with self._connect() as conn:
            n_uploads, n_images = conn.execute(
                f"SELECT COUNT(*), COUNT(DISTINCT u.image_hash) FROM serve_uploads u{where}", args
            ).fetchone()
            states = dict(
                conn.execute(
                    "SELECT j.status, COUNT(*) FROM serve_jobs j WHERE j.upload_id IN "
                    f"(SELECT u.id FROM serve_uploads u{where}) GROUP BY j.status",
                    args,
                ).fetchall()
            )
        return {
            "uploads": int(n_uploads),
            "images": int(n_images),
            **{s: int(states.get(s, 0)) for s in STATUSES},
        }

    # -- progress of running jobs (in memory: it only matters while this server runs them) --

    def set_progress(self, job_id: int, progress: dict[str, Any] | None) -> None:
        """Record (or with ``None`` forget) where a running job is: ``stage``, ``fraction`` 0–1 …"""
        with self._progress_lock:
            if progress is None:
                self._progress.pop(int(job_id), None)
            else:
                self._progress[int(job_id)] = dict(progress)

    def _with_progress(self, job: dict[str, Any]) -> dict[str, Any]:
        if job.get("status") == "running":
            with self._progress_lock:
                found = self._progress.get(int(job["id"]))
            job["progress"] = dict(found) if found else None
        return job


def _filters(
    *,
    q: str | None = None,
    task: str | None = None,
    status: str | None = None,
    image_hash: str | None = None,
    label: str | None = None,
    upload_id: int | None = None,
) -> tuple[str, list[Any]]:
    """(`` WHERE …`` clause on ``serve_uploads u`` or ``""``, its arguments) of the history filters."""
    where: list[str] = []
    args: list[Any] = []
    if image_hash:
        where.append("u.image_hash = ?")
        args.append(image_hash)
    if task:
        where.append("EXISTS (SELECT 1 FROM serve_jobs j WHERE j.upload_id = u.id AND j.task = ?)")
        args.append(task)
    if status:
        where.append("EXISTS (SELECT 1 FROM serve_jobs j WHERE j.upload_id = u.id AND j.status = ?)")
        args.append(status)
    if label is not None:
        where.append(
            "EXISTS (SELECT 1 FROM serve_jobs j WHERE j.upload_id = u.id AND j.task = 'predict' "
            "AND j.status = 'done' AND CAST(json_extract(j.result_json, '$.prediction') AS TEXT) = ?)"
        )
        args.append(str(label))
    if upload_id is not None:
        where.append("u.id = ?")
        args.append(int(upload_id))
    if q:
        like = f"%{q.lower()}%"
        where.append(
            "(lower(u.original_name) LIKE ? OR u.image_hash LIKE ? OR EXISTS (SELECT 1 FROM serve_jobs j "
            "WHERE j.upload_id = u.id AND j.task = 'predict' AND j.status = 'done' "
            "AND lower(CAST(json_extract(j.result_json, '$.prediction') AS TEXT)) LIKE ?))"
        )
        args += [like, f"{q.lower()}%", like]
    return (" WHERE " + " AND ".join(where)) if where else "", args


def _job_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["result"] = json.loads(d.pop("result_json")) if d.get("result_json") else None
    # a failed job's result holds only ``transient``: whether running it again may succeed
    d["transient"] = bool((d["result"] or {}).get("transient")) if d["status"] == "failed" else None
    return d
