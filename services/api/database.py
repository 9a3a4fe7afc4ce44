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
    "busy_timeout": 5000,  # the bound on waiting for the write lock (SQLite retries within it)
}
SQLITE_LOCK = "IMMEDIATE"
"""Every transaction takes the write lock when it begins, not at its first write.

Two connections write (configuration on the event loop, history on its thread).
With SQLite's default deferred BEGIN a transaction that read first and then
writes while the other connection has committed gets SQLITE_BUSY at once:
`busy_timeout` cannot help, since waiting would not make its snapshot current,
and about one REST write in fifty answered 503 while history recorded 300
samples a second. Taken up front, the lock is simply waited for (within
`busy_timeout`), and a transaction never has to be abandoned half-way."""


class ReconnectingPostgresqlDatabase(ReconnectMixin, peewee.PostgresqlDatabase):
    """A PostgreSQL server restart costs one failed query's retry, not the service."""


def open_database(url: str) -> peewee.Database:
    """Open (and for SQLite, create the folder of) the database at `url`."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type=SQLITE_LOCK)
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
