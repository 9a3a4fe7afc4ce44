"""On the server itself: issue an API token, or create a user, without the web UI.

    TOKEN=$(.venv/bin/python -m services.api.auth token docs --role admin)
    .venv/bin/python -m services.api.auth user anna --role admin   # asks for the password

Whoever can run this can read the database anyway, so it needs no login. It uses
MAELSTROM_DATABASE_URL like the API (see docs/security.md).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time

from services.api.auth.policy import Role
from services.api.auth.store import AuthStore
from services.api.database import open_database
from services.api.migrations import migrate
from services.common.config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.api.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="issue an API token; prints only its secret")
    token.add_argument("name")
    token.add_argument("--role", choices=[r.name for r in Role], default="brewer")
    user = sub.add_parser("user", help="create a user (the first one may be the owner)")
    user.add_argument("name")
    user.add_argument("--role", choices=[r.name for r in Role], default="admin")
    args = parser.parse_args(argv)

    db = open_database(Config.from_env().database_url)
    migrate(db)
    store = AuthStore(db, time.time)
    if args.command == "token":
        _row, secret = store.create_token(args.name, Role[args.role], "command line")
        print(secret)
        return 0
    if store.user_named(args.name) is not None:
        print(f"user {args.name!r} exists", file=sys.stderr)
        return 1
    password = getpass.getpass(f"password for {args.name}: ")
    if len(password) < 8:
        print("at least 8 characters", file=sys.stderr)
        return 1
    asyncio.run(store.create_user(args.name, password, Role[args.role]))
    print(f"user {args.name} ({args.role}) created", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
