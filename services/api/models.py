"""Every table the API keeps, in one place (peewee models on the `database` proxy).

Configuration objects are stored as their pydantic JSON (`data`) plus the columns
the database itself must understand: the id, the optimistic-locking `version`, and
for loops the foreign keys to the devices and profile they use, so the database
refuses to delete a device a loop still drives even if the code forgot to check.
Tables are created and changed only by `migrations.py`.
"""

from __future__ import annotations

import time

import peewee

from services.api.database import database


def _now() -> float:
    return time.time()


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """One row per applied migration; the highest `version` is the schema's."""

    version = peewee.IntegerField(primary_key=True)
    name = peewee.TextField()
    applied_at = peewee.FloatField(default=_now)


class Setting(BaseModel):
    key = peewee.TextField(primary_key=True)
    value = peewee.TextField()  # JSON
    version = peewee.IntegerField(default=1)
    updated_at = peewee.FloatField(default=_now)


class ConfigRow(BaseModel):
    id = peewee.TextField(primary_key=True)
    data = peewee.TextField()  # the object's JSON, without `version`
    version = peewee.IntegerField(default=1)
    created_at = peewee.FloatField(default=_now)
    updated_at = peewee.FloatField(default=_now)


class DeviceRow(ConfigRow):
    class Meta:
        table_name = "device"


class ProfileRow(ConfigRow):
    class Meta:
        table_name = "profile"


class LoopRow(ConfigRow):
    sensor_device = peewee.ForeignKeyField(
        DeviceRow, column_name="sensor_device", backref="sensed_by", on_delete="RESTRICT"
    )
    heater_device = peewee.ForeignKeyField(
        DeviceRow, column_name="heater_device", null=True, backref="heats", on_delete="RESTRICT"
    )
    cooler_device = peewee.ForeignKeyField(
        DeviceRow, column_name="cooler_device", null=True, backref="cools", on_delete="RESTRICT"
    )
    profile = peewee.ForeignKeyField(
        ProfileRow, column_name="profile", null=True, backref="run_by", on_delete="RESTRICT"
    )

    class Meta:
        table_name = "loop"


class AlarmRow(BaseModel):
    """The last record seen for each alarm id (the full history is the recorder's job)."""

    id = peewee.TextField(primary_key=True)
    data = peewee.TextField()  # Alarm JSON
    visible = peewee.BooleanField(default=True)
    updated_at = peewee.FloatField(default=_now, index=True)

    class Meta:
        table_name = "alarm"


CONFIG_ROWS: dict[str, type[ConfigRow]] = {
    "devices": DeviceRow,
    "profiles": ProfileRow,
    "loops": LoopRow,
}
"""Config kind → table, in dependency order (loops refer to devices and profiles)."""


class UserRow(BaseModel):
    """A person who logs in. `password_hash` is argon2id; nothing else about it is kept."""

    id = peewee.AutoField()
    name = peewee.TextField(unique=True)
    password_hash = peewee.TextField()
    role = peewee.TextField()  # viewer | brewer | admin
    disabled = peewee.BooleanField(default=False)
    created_at = peewee.FloatField(default=_now)
    updated_at = peewee.FloatField(default=_now)

    class Meta:
        table_name = "user"


class TokenRow(BaseModel):
    """An API token (Home Assistant, scripts): only its SHA-256 is kept; shown once."""

    id = peewee.TextField(primary_key=True)  # public, short: names the token in URLs
    name = peewee.TextField()
    role = peewee.TextField()
    token_hash = peewee.TextField(unique=True)
    created_by = peewee.TextField()
    created_at = peewee.FloatField(default=_now)
    last_used_at = peewee.FloatField(null=True)

    class Meta:
        table_name = "api_token"


class SessionRow(BaseModel):
    """A browser login. The cookie carries the session id (encrypted); the row is the
    session, so logout, a password change or disabling the user ends it at once."""

    id = peewee.TextField(primary_key=True)  # SHA-256 of the session id in the cookie
    user = peewee.ForeignKeyField(UserRow, backref="sessions", on_delete="CASCADE")
    csrf = peewee.TextField()
    created_at = peewee.FloatField(default=_now)
    last_seen_at = peewee.FloatField(default=_now)

    class Meta:
        table_name = "session"


class SecretRow(BaseModel):
    """Server secrets (the session cookie key): never in a backup, never in a response."""

    name = peewee.TextField(primary_key=True)
    value = peewee.TextField()

    class Meta:
        table_name = "server_secret"


class AuditRow(BaseModel):
    """Who changed what, when: one row per REST mutation (accepted or refused)."""

    id = peewee.AutoField()
    ts = peewee.FloatField(default=_now, index=True)
    who = peewee.TextField()  # user name, "token:<name>", "local", "anonymous"…
    method = peewee.TextField()
    path = peewee.TextField()
    status = peewee.IntegerField()
    address = peewee.TextField(default="")

    class Meta:
        table_name = "audit"
