"""Versioned schema migrations: an upgrade never loses a brewer's profiles.

`schema_version` holds one row per applied migration. On start, `migrate()` runs
every migration newer than the database, in order, each in its own transaction
together with its `schema_version` row, so a crash mid-upgrade leaves the
database at the previous version, never half-way. A database newer than this code
(a downgrade) is refused rather than guessed at.

To change the schema, append a function to `MIGRATIONS`; never edit one that has
shipped. Column changes use `playhouse.migrate`; migrations that reshape stored
objects rewrite the JSON in `data`. Other parts of the API (the history recorder)
add their tables here too, so one version number describes the whole database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from services.api.models import (
    NOTIFICATION_TABLES,
    AlarmRow,
    DeviceRow,
    LoopRow,
    ProfileRow,
    SchemaVersion,
    Setting,
)

log = logging.getLogger(__name__)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer Maelstrom than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[peewee.Database], None]


def _initial(db: peewee.Database) -> None:
    db.create_tables([Setting, DeviceRow, ProfileRow, LoopRow])


def _alarms(db: peewee.Database) -> None:
    db.create_tables([AlarmRow])


def _users_and_access(db: peewee.Database) -> None:
    from services.api.models import AuditRow, SecretRow, SessionRow, TokenRow, UserRow

    db.create_tables([UserRow, TokenRow, SessionRow, SecretRow, AuditRow])


def _history(db: peewee.Database) -> None:
    from services.api.history.models import create_tables  # it imports the database module

    create_tables(db)


def _notifications(db: peewee.Database) -> None:
    db.create_tables(list(NOTIFICATION_TABLES))


MIGRATIONS: list[Migration] = [
    Migration(1, "settings, devices, profiles, loops", _initial),
    Migration(2, "last alarm record per id", _alarms),
    Migration(3, "history: series, samples, rollups, events, alarms, logs, annotations", _history),
    # Alerts and streams (issue 18): its own step, whatever number it lands at.
    Migration(4, "notifications: targets, rules, outbox, alarm notices; streams", _notifications),
    Migration(5, "users, API tokens, sessions, server secrets, audit", _users_and_access),
]


def current_version(db: peewee.Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    latest = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(latest or 0)


def migrate(db: peewee.Database, upto: int | None = None) -> int:
    """Bring the schema to the latest version (or `upto`); returns the version reached."""
    db.create_tables([SchemaVersion])
    have = current_version(db)
    latest = MIGRATIONS[-1].version
    if have > latest:
        raise SchemaTooNew(
            f"the database is at schema version {have}, newer than this Maelstrom "
            f"({latest}); upgrade Maelstrom or restore a backup"
        )
    for migration in MIGRATIONS:
        if migration.version <= have or (upto is not None and migration.version > upto):
            continue
        with db.atomic():
            migration.apply(db)
            SchemaVersion.create(version=migration.version, name=migration.name)
        log.info("database schema migrated to %d: %s", migration.version, migration.name)
        have = migration.version
    return have
