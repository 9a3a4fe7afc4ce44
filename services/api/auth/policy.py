"""Who may do what: the role each REST operation needs, declared as data.

One table, one check (`services.api.auth.middleware`). An operation not listed
here needs `viewer` to read (GET) and `admin` for anything else, so a route added
tomorrow is closed to brewers until someone decides otherwise. The OpenAPI
document shows each operation's role (`x-maelstrom-role`), and the tests are
generated from it.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    viewer = 1
    """Reads everything; changes nothing, acknowledges nothing."""
    brewer = 2
    """Setpoints, modes, manual output, profiles and their runs, alarm acks, notes."""
    admin = 3
    """Devices, loops' wiring, settings, publishing, users, tokens, backup, restore."""

    @classmethod
    def parse(cls, name: str) -> Role:
        return cls[name]


OPEN = "open"
"""Anyone, logged in or not (the handler itself decides, e.g. login)."""
AUTHENTICATED = "authenticated"
"""Anyone logged in, whatever the role (their own password)."""

Rule = Role | str

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

RULES: dict[tuple[str, str], Rule] = {
    # monitoring and the API's own description stay open (design: /api/health may)
    ("GET", "/api/health"): OPEN,
    ("GET", "/api/openapi.json"): OPEN,
    # logging in
    ("GET", "/api/auth/status"): OPEN,
    ("POST", "/api/auth/setup"): OPEN,
    ("POST", "/api/auth/login"): OPEN,
    ("POST", "/api/auth/logout"): OPEN,
    ("POST", "/api/auth/password"): AUTHENTICATED,
    # a hydrometer cannot log in: the route checks the device's own token (docs/streams.md)
    ("POST", "/api/ingest/ispindel"): OPEN,
    # brewing: commands, profiles, alarms, notes
    ("POST", "/api/loops/{id}/setpoint"): Role.brewer,
    ("POST", "/api/loops/{id}/mode"): Role.brewer,
    ("POST", "/api/loops/{id}/output"): Role.brewer,
    ("POST", "/api/loops/{id}/profile"): Role.brewer,
    ("POST", "/api/loops/{id}/ack"): Role.brewer,
    ("POST", "/api/profiles/import"): Role.brewer,
    ("POST", "/api/profiles"): Role.brewer,
    ("PUT", "/api/profiles/{id}"): Role.brewer,
    ("PATCH", "/api/profiles/{id}"): Role.brewer,
    ("DELETE", "/api/profiles/{id}"): Role.brewer,
    ("PUT", "/api/profiles/{id}/csv"): Role.brewer,
    ("POST", "/api/alarms/ack"): Role.brewer,
    ("POST", "/api/alarms/{id}/ack"): Role.brewer,
    ("POST", "/api/history/annotations"): Role.brewer,
    ("DELETE", "/api/history/annotations/{id}"): Role.brewer,
    # reads that hand out everything configured, or who is who
    ("GET", "/api/backup"): Role.admin,
    ("GET", "/api/users"): Role.admin,
    ("GET", "/api/users/{id}"): Role.admin,
    ("GET", "/api/tokens"): Role.admin,
    ("GET", "/api/tokens/{id}"): Role.admin,
    ("GET", "/api/audit"): Role.admin,
}


def required(method: str, path: str) -> Rule:
    """The rule for `method` on the route `path` (its canonical form, `{id}` and all)."""
    rule = RULES.get((method, path))
    if rule is not None:
        return rule
    if method in ("GET", "HEAD"):
        return Role.viewer
    return Role.admin


def describe_rule(rule: Rule) -> str:
    return rule.name if isinstance(rule, Role) else rule
