"""The database connection: SQLite by default, PostgreSQL by URL.

Models bind to `database` (a proxy) so the same code runs against a temp SQLite
file in tests, `data/maelstrom.db` at home and PostgreSQL in a brewery.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import peewee
from aiohttp import web
from playhouse.db_url import connect, parse
from playhouse.shortcuts import ReconnectMixin

from services.common.web import CONFIG

database = peewee.DatabaseProxy()
DATABASE = web.AppKey("database", peewee.Database)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers (history queries) never block the recorder's writes
    "foreign_keys": 1,
    "synchronous": "normal",  # with WAL: durable across a process crash, fast
    "busy_timeout": 5000,
}


class ReconnectingPostgresqlDatabase(ReconnectMixin, peewee.PostgresqlDatabase):
    """A PostgreSQL server restart costs one failed query's retry, not the service."""


def open_database(url: str) -> peewee.Database:
    """Open (and for SQLite, create the folder of) the database at `url`."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS)
    elif url.startswith(("postgres://", "postgresql://")):
        db = ReconnectingPostgresqlDatabase(**parse(url, unquote_password=True, unquote_user=True))
    else:
        db = connect(url)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    return db


def check_database(db: peewee.Database) -> bool:
    try:
        db.execute_sql("SELECT 1")
    except peewee.PeeweeException:
        return False
    return True


def setup_database(app: web.Application) -> None:
    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        from services.api.migrations import migrate  # models import this module

        db = open_database(app[CONFIG].database_url)
        migrate(db)
        app[DATABASE] = db
        yield
        db.close()

    app.cleanup_ctx.append(database_ctx)
