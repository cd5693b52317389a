"""Workspace.connect: the public way for other parts of semlab to keep tables in the catalog."""

from __future__ import annotations

import sqlite3

import pytest

from semlab.dataset import Workspace
from semlab.errors import WorkspaceError


def test_connect_is_the_catalog_with_foreign_keys(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    with ws.connect() as conn:
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        conn.execute("CREATE TABLE ext_parent (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE ext_child (parent INTEGER NOT NULL REFERENCES ext_parent(id))")
        conn.execute("INSERT INTO ext_parent (id) VALUES (1)")
        conn.execute("INSERT INTO ext_child (parent) VALUES (1)")  # autocommit: kept
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO ext_child (parent) VALUES (2)")
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")  # closed on leaving the block
    reopened = Workspace.open(ws.path)
    with reopened.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM ext_child").fetchone()[0] == 1
    assert reopened.status().schema_version >= 1  # the workspace's own tables are untouched


def test_connect_to_an_unreadable_catalog_is_a_workspace_error(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    ws.catalog.unlink()
    with pytest.raises(WorkspaceError, match="cannot open the catalog"):
        with ws.connect():
            pass
