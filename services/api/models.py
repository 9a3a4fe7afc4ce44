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


class NotificationTargetRow(BaseModel):
    """Where notifications go: an Apprise URL (secret), and how delivery to it is faring."""

    id = peewee.TextField(primary_key=True)
    data = peewee.TextField()  # Target JSON, the URL included: never served as stored
    failures = peewee.IntegerField(default=0)  # consecutive failed attempts
    last_error = peewee.TextField(null=True)
    last_failure_at = peewee.FloatField(null=True)
    last_success_at = peewee.FloatField(null=True)
    updated_at = peewee.FloatField(default=_now)

    class Meta:
        table_name = "notification_target"


class NotificationRuleRow(BaseModel):
    """Which alarms and events go to which targets, with quiet hours and escalation."""

    id = peewee.TextField(primary_key=True)
    data = peewee.TextField()  # Rule JSON
    updated_at = peewee.FloatField(default=_now)

    class Meta:
        table_name = "notification_rule"


class NotificationRow(BaseModel):
    """The outbox and the delivery log in one: a message for one target and its fate.

    A row is written in the same transaction as the notice that caused it, and is
    marked `sent` only once Apprise reports success, so a restart in between
    delivers it afterwards, once.
    """

    id = peewee.AutoField()
    target = peewee.TextField(index=True)
    rule = peewee.TextField(null=True)
    alarm_id = peewee.TextField(null=True)
    event = peewee.TextField()  # raised, reminder, escalation, resolved, test, or an event name
    severity = peewee.TextField(default="medium")
    title = peewee.TextField()
    body = peewee.TextField()
    created_at = peewee.FloatField(default=_now)
    due_at = peewee.FloatField(index=True)
    attempts = peewee.IntegerField(default=0)
    state = peewee.TextField(default="pending", index=True)  # pending, sent, failed
    last_error = peewee.TextField(null=True)
    sent_at = peewee.FloatField(null=True, index=True)
    merged_into = peewee.IntegerField(null=True)  # sent as part of that row's digest

    class Meta:
        table_name = "notification_delivery"


class AlarmNoticeRow(BaseModel):
    """One alarm occurrence (id + raised_at) as one rule has notified it: for reminders,
    escalation and the resolved message, and so a retained alarm seen again after a
    restart is not notified twice."""

    key = peewee.TextField(primary_key=True)  # "<rule>|<alarm id>|<raised_at>"
    rule = peewee.TextField()
    alarm_id = peewee.TextField(index=True)
    raised_at = peewee.FloatField()
    severity = peewee.TextField()
    first_sent_at = peewee.FloatField()
    last_sent_at = peewee.FloatField()
    escalated = peewee.BooleanField(default=False)
    acknowledged = peewee.BooleanField(default=False)  # no more reminders or escalation
    resolved = peewee.BooleanField(default=False, index=True)  # cleared or gone: done

    class Meta:
        table_name = "alarm_notice"


class StreamRow(BaseModel):
    """A stream of readings to Brewfather, Brewer's Friend or a webhook, and its status."""

    id = peewee.TextField(primary_key=True)
    data = peewee.TextField()  # Stream JSON (the URL may hold a key: never served as stored)
    last_success_at = peewee.FloatField(null=True)
    last_error = peewee.TextField(null=True)
    last_error_at = peewee.FloatField(null=True)
    updated_at = peewee.FloatField(default=_now)

    class Meta:
        table_name = "stream"


class StreamPostRow(BaseModel):
    """Store and forward: one reading waiting (or sent) for a stream, oldest first."""

    id = peewee.AutoField()
    stream = peewee.TextField(index=True)
    body = peewee.TextField()  # the JSON to post
    taken_at = peewee.FloatField(index=True)
    state = peewee.TextField(default="pending", index=True)  # pending, sent
    attempts = peewee.IntegerField(default=0)
    sent_at = peewee.FloatField(null=True)

    class Meta:
        table_name = "stream_post"


NOTIFICATION_TABLES = (
    NotificationTargetRow,
    NotificationRuleRow,
    NotificationRow,
    AlarmNoticeRow,
    StreamRow,
    StreamPostRow,
)


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
