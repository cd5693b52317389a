"""The web app's tables: schema version and the migration path from older catalogs."""

from __future__ import annotations

import math
import sqlite3

import pytest

from semlab.errors import WorkspaceError
from semlab.serve._store import MIGRATIONS, SCHEMA_VERSION, Store, schema_version


def _tables(catalog) -> set[str]:
    with sqlite3.connect(catalog) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def test_new_catalog_gets_the_current_version(workspace):
    Store(workspace)
    with sqlite3.connect(workspace.catalog) as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    assert {"serve_images", "serve_uploads", "serve_jobs", "serve_meta", "serve_jobs_image_task"} <= _tables(
        workspace.catalog
    )
    Store(workspace)  # opening again changes nothing
    with sqlite3.connect(workspace.catalog) as conn:
        assert conn.execute("SELECT COUNT(*) FROM serve_meta").fetchone()[0] == 1


def test_version_1_catalog_is_migrated_with_its_history(workspace):
    """A catalog written before versions were recorded (version 1) keeps its rows."""
    with sqlite3.connect(workspace.catalog) as conn:
        for statement in MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO serve_uploads (image_hash, original_name, size_bytes, duplicate, uploaded_at) "
            "VALUES ('ab', 'old.tif', 10, 0, '2024-01-01T00:00:00')"
        )
        conn.execute(
            "INSERT INTO serve_jobs (upload_id, image_hash, task, status, result_json, created_at) "
            "VALUES (1, 'ab', 'segment', 'done', '{\"pore_fraction\": 0.25}', '2024-01-01T00:00:00')"
        )
        assert schema_version(conn) == 1
    assert "serve_meta" not in _tables(workspace.catalog)
    store = Store(workspace)
    with sqlite3.connect(workspace.catalog) as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    assert "serve_jobs_image_task" in _tables(workspace.catalog)
    (upload,) = store.uploads()
    assert upload["original_name"] == "old.tif" and upload["jobs"][0]["result"] == {"pore_fraction": 0.25}
    assert store.latest_result("ab", "segment")["result"]["pore_fraction"] == 0.25


def test_version_2_catalog_gains_upload_options_and_quality(workspace):
    """Uploads of a version-2 catalog keep their jobs; their options read as {} (the server's
    defaults), their quality as unknown; a job of theirs starts with those options."""
    with sqlite3.connect(workspace.catalog) as conn:
        for version in (1, 2):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute("INSERT INTO serve_meta (key, value) VALUES ('schema_version', '2')")
        conn.execute(
            "INSERT INTO serve_uploads (image_hash, original_name, size_bytes, duplicate, uploaded_at) "
            "VALUES ('ab', 'old.tif', 10, 0, '2024-01-01T00:00:00')"
        )
        conn.execute(
            "INSERT INTO serve_jobs (upload_id, image_hash, task, status, created_at) "
            "VALUES (1, 'ab', 'segment', 'queued', '2024-01-01T00:00:00')"
        )
    store = Store(workspace)
    with sqlite3.connect(workspace.catalog) as conn:
        assert schema_version(conn) == SCHEMA_VERSION == 3
    (upload,) = store.uploads()
    assert upload["options"] == {} and upload["quality"] is None
    assert store.start(1)["options_json"] is None
    _, (job,) = store.add_upload("cd", "new.tif", 1, False, ["segment"], options={"foreground": "bright"},
                                 quality={"flags": ["blank"], "messages": ["m"]})  # fmt: skip
    new = store.uploads(upload_id=2)[0]
    assert new["options"] == {"foreground": "bright"} and new["quality"]["flags"] == ["blank"]
    assert store.start(job)["options_json"] == '{"foreground": "bright"}'


def test_newer_catalog_is_refused(workspace):
    Store(workspace)
    with sqlite3.connect(workspace.catalog) as conn:
        conn.execute(
            "UPDATE serve_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(WorkspaceError, match="newer than this semlab reads") as info:
        Store(workspace)
    assert len(str(info.value).splitlines()) == 1


def test_results_are_strict_json(workspace):
    import numpy as np

    store = Store(workspace)
    _, (job,) = store.add_upload("cd", "x.tif", 1, False, ["segment"])
    store.finish(job, result={"a": np.float32(0.5), "b": math.nan, "c": np.arange(2)})
    assert store.job(job)["result"] == {"a": 0.5, "b": None, "c": [0, 1]}


def test_store_goes_through_the_workspace(workspace, monkeypatch):
    """The serve tables are reached through Workspace.connect, not a second way into the catalog."""
    from semlab.dataset import Workspace

    calls = []
    connect = Workspace.connect

    def counting(self):
        calls.append(self.path)
        return connect(self)

    monkeypatch.setattr(Workspace, "connect", counting)
    store = Store(workspace)
    store.add_upload("ef", "y.tif", 1, False, ["segment"])
    assert calls and set(calls) == {workspace.path}
