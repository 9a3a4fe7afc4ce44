"""Schema migrations: an upgrade keeps every profile; a newer database is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.api.database import open_database
from services.api.migrations import MIGRATIONS, SchemaTooNew, current_version, migrate
from services.api.models import ProfileRow, SchemaVersion
from services.api.store import ConfigStore


def test_upgrading_an_old_database_keeps_its_profiles(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    assert migrate(db, upto=1) == 1  # a database as the first release left it
    ale = {
        "id": "ale",
        "name": "Ale",
        "interpolation": "linear",
        "points": [{"offset": 0, "at": None, "temperature": 18}],
    }
    ProfileRow.create(id="ale", data=json.dumps(ale), version=7)
    db.close()

    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    assert migrate(db) == MIGRATIONS[-1].version
    profile = ConfigStore(db).get("profiles", "ale")
    assert profile.version == 7 and profile.points[0].temperature == 18
    assert [v.version for v in SchemaVersion.select().order_by(SchemaVersion.version)] == [
        m.version for m in MIGRATIONS
    ]
    assert migrate(db) == current_version(db)  # running again changes nothing
    db.close()


def test_a_database_from_a_newer_maelstrom_is_refused(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(db)
    SchemaVersion.create(version=999, name="from the future")
    with pytest.raises(SchemaTooNew, match="999"):
        migrate(db)
    db.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    db.close()


def test_a_stored_object_that_no_longer_validates_is_kept_not_lost(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(db)
    ProfileRow.create(id="odd", data=json.dumps({"id": "odd", "points": [], "future": 1}))
    store = ConfigStore(db)
    assert store.list("profiles") == []  # unreadable: skipped, with a warning
    assert ProfileRow.get_by_id("odd").data  # but still there for a migration to fix
    db.close()
