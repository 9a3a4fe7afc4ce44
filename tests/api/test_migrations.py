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


def test_a_loop_stored_before_targets_existed_loads_with_its_target(tmp_path: Path) -> None:
    """Today's rows carry mode and setpoint inside the loop and no target revision: they
    load as they are, the stored values being the target the controller starts from."""
    from services.api.models import DeviceRow, LoopRow

    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(db)
    DeviceRow.create(id="ferm", data=json.dumps({"id": "ferm", "kind": "simulated"}), version=1)
    old_loop = {
        "id": "fv1",
        "sensor": {"device": "ferm", "id": "beer"},
        "heater": {"device": "ferm", "id": "heater"},
        "mode": "constant",
        "setpoint": 17.5,
    }
    LoopRow.create(id="fv1", data=json.dumps(old_loop), version=4, sensor_device="ferm")
    loop = ConfigStore(db).get("loops", "fv1")
    assert (loop.mode, loop.setpoint, loop.target_revision, loop.version) == (
        "constant",
        17.5,
        0,
        4,
    )
    db.close()
