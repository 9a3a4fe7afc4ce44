"""The configuration store: typed objects in, typed objects out, versioned.

Every write checks the version the client read (optimistic locking, enforced by a
conditional UPDATE so two API processes on one database cannot both win), checks
that loops refer to IO and profiles that exist, stores the object and tells the
listeners (the MQTT publisher) what changed. Nothing here knows about HTTP.

The database is synchronous peewee called straight from the event loop: each
operation is a handful of indexed queries on a few dozen rows (well under a
millisecond on SQLite), and one connection used from one thread keeps peewee's
connection and transaction state simple. Moving it to a thread pool would buy
nothing at this size and cost a connection per thread.

Reads come from memory. The API is the only writer of configuration, so each
kind is loaded once into a `Snapshot` (the typed objects and their JSON, ready to
send) and dropped on every committed change of that kind; the next read loads it
again. A peewee query costs ~250 µs, which made a GET of one loop four times as
slow as `/api/health`. Writes still read the database inside their transaction,
so the version checks stay exact. Another API process on the same database tells
us of its writes through the config it publishes (`invalidate`, from the
publisher). Objects handed out are shared with the cache: treat them as read-only
(every change here is a `model_copy`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar, cast

import peewee
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.api.database import DATABASE
from services.api.errors import Conflict, Invalid, NotFound
from services.api.models import CONFIG_ROWS, ConfigRow, LoopRow
from services.api.models import Setting as SettingRow
from services.common.schema.config import (
    CONFIG_MODELS,
    ActuatorRole,
    Device,
    IoRef,
    Loop,
    Profile,
    Setting,
    with_actuator_types,
)
from services.common.schema.target import TARGET_FIELDS, LoopTarget
from services.common.web import CONFIG

log = logging.getLogger(__name__)

ConfigObject = Device | Profile | Loop
Obj = TypeVar("Obj", Device, Profile, Loop)
Stored = ConfigObject | Setting
Listener = Callable[[str, str, Stored | None], None]
"""Called with (kind, id, object) after every committed change; object None = deleted."""

KINDS = ("devices", "profiles", "loops")


def _target_of(loop: Loop) -> dict[str, Any]:
    return {**{k: getattr(loop, k) for k in TARGET_FIELDS}, "target_revision": loop.target_revision}


SINGULAR = {"devices": "device", "profiles": "profile", "loops": "loop", "settings": "setting"}


class Snapshot:
    """Every stored object of one kind, by id in id order, with its JSON body."""

    def __init__(self, objects: Iterable[Stored]) -> None:
        self.objects: dict[str, Stored] = {_key(o): o for o in objects}
        self.bodies: dict[str, bytes] = {
            key: obj.model_dump_json().encode() for key, obj in self.objects.items()
        }
        self.list_body = b"[" + b",".join(self.bodies.values()) + b"]"


def _key(obj: Stored) -> str:
    return obj.key if isinstance(obj, Setting) else obj.id


class ConfigStore:
    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self._listeners: list[Listener] = []
        self._snapshots: dict[str, Snapshot] = {}

    # listeners ------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _notify(self, kind: str, object_id: str, obj: Stored | None) -> None:
        self.invalidate(kind)  # before the listeners: they may read it back
        for listener in self._listeners:
            try:
                listener(kind, object_id, obj)
            except Exception:
                log.exception("config listener failed for %s/%s", kind, object_id)

    # the cache --------------------------------------------------------------------------
    def invalidate(self, kind: str | None = None) -> None:
        """Forget what is cached of `kind` (all kinds with None): it changed in the database."""
        if kind is None:
            self._snapshots.clear()
        else:
            self._snapshots.pop(kind, None)

    def snapshot(self, kind: str) -> Snapshot:
        """What is stored of `kind` ("settings" too), from memory after the first read."""
        cached = self._snapshots.get(kind)
        if cached is not None:
            return cached
        objects: list[Stored] = (
            list(self._read_settings()) if kind == "settings" else self._read_list(kind)
        )
        snapshot = Snapshot(objects)
        # Inside a transaction we may be reading what is not committed (and could
        # still roll back): serve it, but do not keep it.
        if not self.db.in_transaction():
            self._snapshots[kind] = snapshot
        return snapshot

    def body(self, kind: str, object_id: str) -> bytes:
        """One object's JSON, as GET sends it; NotFound when there is none."""
        body = self.snapshot(kind).bodies.get(object_id)
        if body is None:
            raise self._not_found(kind, object_id)
        return body

    def list_body(self, kind: str) -> bytes:
        """Every object of `kind` as one JSON array, as GET sends it."""
        return self.snapshot(kind).list_body

    # reading ----------------------------------------------------------------------------
    def _load(self, kind: str, row: ConfigRow) -> ConfigObject | None:
        try:
            data = json.loads(row.data)
            data["version"] = row.version
            return CONFIG_MODELS[kind].model_validate(data)
        except (ValueError, ValidationError) as exc:
            # Never delete what we cannot read: a migration or a fix can still save it.
            log.warning("stored %s %r does not load (%s); left untouched", kind, row.id, exc)
            return None

    def list(self, kind: str) -> list[ConfigObject]:
        return cast(list[ConfigObject], list(self.snapshot(kind).objects.values()))

    def find(self, kind: str, object_id: str) -> ConfigObject | None:
        return cast(ConfigObject | None, self.snapshot(kind).objects.get(object_id))

    def get(self, kind: str, object_id: str) -> ConfigObject:
        obj = self.find(kind, object_id)
        if obj is None:
            raise self._not_found(kind, object_id)
        return obj

    def count(self, kind: str) -> int:
        return len(self.snapshot(kind).objects)

    @staticmethod
    def _not_found(kind: str, object_id: str) -> NotFound:
        field = "key" if kind == "settings" else "id"
        return NotFound(f"no {SINGULAR[kind]} {object_id!r}", {"field": field, field: object_id})

    # the database, for writes (inside their transaction) and for the cache -------------
    def _read_list(self, kind: str) -> list[ConfigObject]:
        rows = CONFIG_ROWS[kind].select().order_by(CONFIG_ROWS[kind].id)
        return [obj for obj in (self._load(kind, row) for row in rows) if obj is not None]

    def _read(self, kind: str, object_id: str) -> ConfigObject | None:
        row = CONFIG_ROWS[kind].get_or_none(CONFIG_ROWS[kind].id == object_id)
        return None if row is None else self._load(kind, row)

    # writing ----------------------------------------------------------------------------
    def create(self, kind: str, obj: Obj) -> Obj:
        """Store a new object (its version must be 0); 409 if the id is taken."""
        with self.db.atomic():
            if CONFIG_ROWS[kind].get_or_none(CONFIG_ROWS[kind].id == obj.id) is not None:
                raise Conflict(
                    f"{SINGULAR[kind]} {obj.id!r} already exists",
                    {"field": "id", "message": "use PUT or PATCH to change it"},
                )
            if obj.version != 0:
                raise Conflict(
                    f"{SINGULAR[kind]} {obj.id!r} does not exist (deleted?)",
                    {"field": "version", "expected": 0, "got": obj.version},
                )
            self._check(kind, obj)
            saved = self._insert(kind, obj)
        self._notify(kind, saved.id, saved)
        return saved

    def put(self, kind: str, obj: Obj) -> tuple[Obj, bool]:
        """Create, or replace at the version the client read. Returns (object, created)."""
        with self.db.atomic():
            current = CONFIG_ROWS[kind].get_or_none(CONFIG_ROWS[kind].id == obj.id)
            if current is None:
                created = True
                if obj.version != 0:
                    raise Conflict(
                        f"{SINGULAR[kind]} {obj.id!r} no longer exists (deleted?)",
                        {"field": "version", "expected": 0, "got": obj.version},
                    )
                self._check(kind, obj)
                saved = self._insert(kind, obj)
            else:
                created = False
                self._expect(kind, obj.id, current.version, obj.version)
                obj = self._keep_target(kind, current, obj)
                self._check(kind, obj)
                saved = self._update(kind, obj, current.version)
        self._notify(kind, saved.id, saved)
        return saved, created

    def update(
        self,
        kind: str,
        object_id: str,
        change: Callable[[Obj], Obj],
        expected_version: int | None = None,
    ) -> Obj:
        """Apply `change` to the stored object (a command or a patch) and store the result.

        With `expected_version`, a stale read gets 409; without, the change applies
        to whatever is current. A change that changes nothing is not stored. A
        loop's target fields are kept as they are: only its controller changes them.
        """
        with self.db.atomic():
            found = self._read(kind, object_id)
            if found is None:
                raise self._not_found(kind, object_id)
            current = cast(Obj, found)
            if expected_version is not None:
                self._expect(kind, object_id, current.version, expected_version)
            new = change(current)
            if new.id != object_id:
                raise Invalid(
                    f"invalid {SINGULAR[kind]}",
                    [{"field": "id", "message": f"is {object_id!r} in the path"}],
                )
            new = new.model_copy(update={"version": current.version})
            if isinstance(new, Loop) and isinstance(current, Loop):
                new = new.model_copy(update=_target_of(current))  # only commands change it
            if new == current:
                return current
            self._check(kind, new)
            saved = self._update(kind, new, current.version)
        self._notify(kind, saved.id, saved)
        return saved

    def delete(self, kind: str, object_id: str, expected_version: int | None = None) -> None:
        with self.db.atomic():
            row = CONFIG_ROWS[kind].get_or_none(CONFIG_ROWS[kind].id == object_id)
            if row is None:
                raise NotFound(f"no {SINGULAR[kind]} {object_id!r}", {"field": "id"})
            if expected_version is not None:
                self._expect(kind, object_id, row.version, expected_version)
            users = self._users(kind, object_id)
            if users:
                raise Conflict(
                    f"{SINGULAR[kind]} {object_id!r} is in use",
                    {"field": "id", "used_by": {"loops": users}},
                )
            CONFIG_ROWS[kind].delete().where(CONFIG_ROWS[kind].id == object_id).execute()
        self._notify(kind, object_id, None)

    # targets ----------------------------------------------------------------------------
    def set_target(
        self, loop_id: str, target: LoopTarget, *, newer_only: bool = False
    ) -> Loop | None:
        """Mirror a loop's target as its controller published it.

        The target is not configuration: the version stays, nothing is re-published
        (the controller owns it; an echo back as configuration would replay it).
        """
        with self.db.atomic():
            row = LoopRow.get_or_none(LoopRow.id == loop_id)
            if row is None:
                return None
            current = self._load("loops", row)
            if not isinstance(current, Loop):
                return None
            if newer_only and target.revision < current.target_revision:
                return current
            fields = {**target.fields(), "target_revision": target.revision}
            if all(getattr(current, k) == v for k, v in fields.items()):
                return current
            try:
                new = Loop.model_validate({**current.model_dump(), **fields})
            except ValidationError as exc:
                log.warning("target of loop %s does not fit its configuration: %s", loop_id, exc)
                return None
            LoopRow.update(data=self._data(new), **self._columns("loops", new)).where(
                LoopRow.id == loop_id
            ).execute()
        self._changed("loops", loop_id)
        return new

    def _keep_target(self, kind: str, row: ConfigRow, obj: Obj) -> Obj:
        """A configuration write never changes the target: the stored one stays."""
        if kind != "loops":
            return obj
        current = self._load(kind, row)
        if not isinstance(current, Loop):
            return obj
        return obj.model_copy(update=_target_of(current))

    def _changed(self, kind: str, object_id: str) -> None:
        """A change that is not published (a mirrored target): only the cache hears of it."""
        self.invalidate(kind)

    # settings ---------------------------------------------------------------------------
    def settings(self) -> list[Setting]:
        return cast(list[Setting], list(self.snapshot("settings").objects.values()))

    def setting(self, key: str) -> Setting:
        found = self.snapshot("settings").objects.get(key)
        if found is None:
            raise self._not_found("settings", key)
        return cast(Setting, found)

    def _read_settings(self) -> Iterable[Setting]:
        return [self._setting(row) for row in SettingRow.select().order_by(SettingRow.key)]

    def put_setting(self, setting: Setting) -> tuple[Setting, bool]:
        value = json.dumps(setting.value, ensure_ascii=False)
        with self.db.atomic():
            row = SettingRow.get_or_none(SettingRow.key == setting.key)
            if row is None:
                if setting.version != 0:
                    raise Conflict(
                        f"setting {setting.key!r} no longer exists (deleted?)",
                        {"field": "version", "expected": 0, "got": setting.version},
                    )
                SettingRow.create(key=setting.key, value=value, version=1)
                saved, created = setting.model_copy(update={"version": 1}), True
            else:
                self._expect("settings", setting.key, row.version, setting.version)
                if row.value == value:
                    return self._setting(row), False
                n = (
                    SettingRow.update(value=value, version=row.version + 1, updated_at=time.time())
                    .where(SettingRow.key == setting.key, SettingRow.version == row.version)
                    .execute()
                )
                if n != 1:
                    raise self._stale("settings", setting.key, row.version, setting.version)
                saved, created = setting.model_copy(update={"version": row.version + 1}), False
        self._notify("settings", saved.key, saved)
        return saved, created

    def delete_setting(self, key: str, expected_version: int | None = None) -> None:
        with self.db.atomic():
            row = SettingRow.get_or_none(SettingRow.key == key)
            if row is None:
                raise NotFound(f"no setting {key!r}", {"field": "key"})
            if expected_version is not None:
                self._expect("settings", key, row.version, expected_version)
            SettingRow.delete().where(SettingRow.key == key).execute()
        self._notify("settings", key, None)

    @staticmethod
    def _setting(row: SettingRow) -> Setting:
        return Setting(key=row.key, value=json.loads(row.value), version=row.version)

    # the whole configuration ------------------------------------------------------------
    def replace_all(
        self,
        settings: Iterable[Setting],
        devices: Iterable[Device],
        profiles: Iterable[Profile],
        loops: Iterable[Loop],
    ) -> dict[str, int]:
        """Replace the whole configuration in one transaction (restore).

        Versions continue from what each id had, so a client still holding an
        object read before the restore gets 409 rather than overwriting it.
        """
        incoming: dict[str, list[Any]] = {
            "settings": list(settings),
            "devices": list(devices),
            "profiles": list(profiles),
            "loops": list(loops),
        }
        before: dict[str, dict[str, int]] = {
            "settings": {r.key: r.version for r in SettingRow.select()},
            **{k: {r.id: r.version for r in CONFIG_ROWS[k].select()} for k in KINDS},
        }
        devices_by_id = {d.id: d for d in incoming["devices"]}
        profile_ids = {p.id for p in incoming["profiles"]}
        for loop in incoming["loops"]:
            self.check_loop(loop, devices_by_id.get, profile_ids.__contains__)
            self.check_chiller(loop, incoming["loops"])
        self.check_outputs_unshared(incoming["loops"])
        self.invalidate()  # whatever happens below, read it all again afterwards
        with self.db.atomic():
            LoopRow.delete().execute()
            for kind in ("devices", "profiles"):
                CONFIG_ROWS[kind].delete().execute()
            SettingRow.delete().execute()
            for s in incoming["settings"]:
                SettingRow.create(
                    key=s.key,
                    value=json.dumps(s.value, ensure_ascii=False),
                    version=before["settings"].get(s.key, 0) + 1,
                )
            for kind in KINDS:
                for obj in incoming[kind]:
                    self._insert(kind, obj, version=before[kind].get(obj.id, 0) + 1)
        for kind in (*reversed(KINDS), "settings"):  # loops go before the devices they use
            for gone in sorted(set(before[kind]) - {_key(o) for o in incoming[kind]}):
                self._notify(kind, gone, None)
        for s in self.settings():
            self._notify("settings", s.key, s)
        for kind in KINDS:
            for obj in self.list(kind):
                self._notify(kind, obj.id, obj)
        return {kind: len(items) for kind, items in incoming.items()}

    # internals --------------------------------------------------------------------------
    def _stale(self, kind: str, object_id: str, have: int, got: int) -> Conflict:
        return Conflict(
            f"{SINGULAR[kind]} {object_id!r} was changed by someone else",
            {
                "field": "version",
                "expected": have,
                "got": got,
                "message": "read it again, re-apply your change and send the new version",
            },
        )

    def _expect(self, kind: str, object_id: str, have: int, got: int) -> None:
        if have != got:
            raise self._stale(kind, object_id, have, got)

    @staticmethod
    def _data(obj: BaseModel) -> str:
        return obj.model_dump_json(exclude={"version"})

    @staticmethod
    def _columns(kind: str, obj: BaseModel) -> dict[str, Any]:
        if not isinstance(obj, Loop):
            return {}
        return {
            "sensor_device": obj.sensor.device,
            "heater_device": obj.heater.device if obj.heater else None,
            "cooler_device": obj.cooler.device if obj.cooler else None,
            "profile": obj.profile.profile if obj.profile else None,
        }

    def _insert(self, kind: str, obj: Obj, version: int = 1) -> Obj:
        now = time.time()
        CONFIG_ROWS[kind].insert(
            id=obj.id,
            data=self._data(obj),
            version=version,
            created_at=now,
            updated_at=now,
            **self._columns(kind, obj),
        ).execute()
        return obj.model_copy(update={"version": version})

    def _update(self, kind: str, obj: Obj, have: int) -> Obj:
        table = CONFIG_ROWS[kind]
        n = (
            table.update(
                data=self._data(obj),
                version=have + 1,
                updated_at=time.time(),
                **self._columns(kind, obj),
            )
            .where(table.id == obj.id, table.version == have)
            .execute()
        )
        if n != 1:  # another process wrote between our read and this write
            raise self._stale(kind, obj.id, have + 1, have)
        return obj.model_copy(update={"version": have + 1})

    def _check(self, kind: str, obj: BaseModel) -> None:
        """Referential checks: loops name real IO; a device change strands no loop."""
        if isinstance(obj, Loop):
            self.check_loop(
                obj,
                lambda d: cast(Device | None, self._read("devices", d)),
                self._profile_exists,
            )
            others = [cast(Loop, o) for o in self._read_list("loops") if o.id != obj.id]
            self.check_outputs_unshared([*others, obj])
            self.check_chiller(obj, others)
        elif isinstance(obj, Device):
            stranded = []
            for loop_id in self._users("devices", obj.id):
                loop = cast(Loop | None, self._read("loops", loop_id))
                if loop is None:
                    continue
                try:
                    self.check_loop(
                        loop,
                        lambda d: (
                            obj if d == obj.id else cast(Device | None, self._read("devices", d))
                        ),
                        lambda p: True,
                    )
                except Invalid as exc:
                    stranded.append({"loop": loop_id, "problems": exc.detail})
            if stranded:
                raise Conflict(
                    f"device {obj.id!r} would strand loops that use its IO",
                    {"field": "sensors/actuators", "used_by": stranded},
                )

    @staticmethod
    def check_outputs_unshared(loops: list[Loop]) -> None:
        """Two loops must never drive one heater or cooler: they would fight over the
        relay, and neither could keep a compressor's minimum on/off times."""
        owner: dict[tuple[str, str], str] = {}
        for loop in loops:
            for field, ref in (("heater", loop.heater), ("cooler", loop.cooler)):
                if ref is None:
                    continue
                key = (ref.device, ref.id)
                if key in owner and owner[key] != loop.id:
                    raise Conflict(
                        f"actuator {ref.device}/{ref.id} is already driven by loop {owner[key]!r}",
                        {"field": f"{field}", "used_by": {"loops": [owner[key]]}},
                    )
                owner[key] = loop.id
        # A master contactor is shared by the loops it feeds, but is nobody's heater/cooler.
        for loop in loops:
            if loop.contactor is not None:
                key = (loop.contactor.device, loop.contactor.id)
                if key in owner:
                    raise Conflict(
                        f"actuator {key[0]}/{key[1]} is loop {owner[key]!r}'s heater or "
                        "cooler; it cannot be a master contactor too",
                        {"field": "contactor", "used_by": {"loops": [owner[key]]}},
                    )

    @staticmethod
    def check_chiller(loop: Loop, others: list[Loop]) -> None:
        """A fermenter on glycol names a chiller loop (create the chiller first)."""
        if loop.glycol is None:
            return
        chiller = next((o for o in others if o.id == loop.glycol.chiller), None)
        if chiller is None or chiller.chiller is None:
            raise Invalid(
                f"loop {loop.id!r} names no chiller",
                [
                    {
                        "field": "glycol.chiller",
                        "message": f"no chiller loop {loop.glycol.chiller!r} (a loop with a "
                        "'chiller' section)",
                    }
                ],
            )

    @staticmethod
    def check_loop(
        loop: Loop,
        device: Callable[[str], Device | None],
        profile_exists: Callable[[str], bool],
    ) -> None:
        problems: list[dict[str, str]] = []
        refs: list[tuple[str, IoRef | None]] = [
            ("sensor", loop.sensor),
            ("heater", loop.heater),
            ("cooler", loop.cooler),
            ("gravity", loop.gravity),
        ]
        for field, ref in refs:
            if ref is None:
                continue
            dev = device(ref.device)
            if dev is None:
                problems.append(
                    {"field": f"{field}.device", "message": f"no device {ref.device!r}"}
                )
            elif field in ("sensor", "gravity"):
                if ref.id not in {s.id for s in dev.sensors}:
                    problems.append(
                        {
                            "field": f"{field}.id",
                            "message": f"device {dev.id!r} has no sensor {ref.id!r}",
                        }
                    )
            else:
                actuator = next((a for a in dev.actuators if a.id == ref.id), None)
                if actuator is None:
                    problems.append(
                        {
                            "field": f"{field}.id",
                            "message": f"device {dev.id!r} has no actuator {ref.id!r}",
                        }
                    )
                elif actuator.role not in (ActuatorRole(field), ActuatorRole.other):
                    problems.append(
                        {
                            "field": f"{field}.id",
                            "message": f"actuator {ref.id!r} is a {actuator.role}, not a {field}",
                        }
                    )
        for n, interlock in enumerate(loop.interlocks):
            dev = device(interlock.device)
            field = f"interlocks.{n}"
            if dev is None:
                problems.append(
                    {"field": f"{field}.device", "message": f"no device {interlock.device!r}"}
                )
            elif interlock.id not in {i.id for i in dev.inputs}:
                problems.append(
                    {
                        "field": f"{field}.id",
                        "message": f"device {dev.id!r} has no input {interlock.id!r}",
                    }
                )
        if loop.contactor is not None:
            dev = device(loop.contactor.device)
            if dev is None:
                problems.append(
                    {"field": "contactor.device", "message": f"no device {loop.contactor.device!r}"}
                )
            elif loop.contactor.id not in {a.id for a in dev.actuators}:
                problems.append(
                    {
                        "field": "contactor.id",
                        "message": f"device {dev.id!r} has no actuator {loop.contactor.id!r}",
                    }
                )
        try:
            with_actuator_types(loop, device)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            problems.append({"field": f"{field}.type", "message": message})
        if loop.profile is not None and not profile_exists(loop.profile.profile):
            problems.append(
                {"field": "profile.profile", "message": f"no profile {loop.profile.profile!r}"}
            )
        if problems:
            typed = all(p["field"].endswith("_output.type") for p in problems)
            what = (
                "contradicts its actuators' types"
                if typed
                else "refers to something that does not exist"
            )
            raise Invalid(f"loop {loop.id!r} {what}", problems)

    @staticmethod
    def _profile_exists(profile_id: str) -> bool:
        table = CONFIG_ROWS["profiles"]
        return table.get_or_none(table.id == profile_id) is not None

    def _users(self, kind: str, object_id: str) -> list[str]:
        """Ids of the loops that use this device or profile."""
        if kind == "devices":
            where = (
                (LoopRow.sensor_device == object_id)
                | (LoopRow.heater_device == object_id)
                | (LoopRow.cooler_device == object_id)
            )
        elif kind == "profiles":
            where = LoopRow.profile == object_id
        else:
            return []
        return [row.id for row in LoopRow.select(LoopRow.id).where(where).order_by(LoopRow.id)]


STORE = web.AppKey("store", ConfigStore)


def setup_store(app: web.Application) -> None:
    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        from services.api.seed import seed_demo  # the seed builds on this module

        store = ConfigStore(app[DATABASE])
        if app[CONFIG].demo:
            seed_demo(store)
        app[STORE] = store
        yield

    app.cleanup_ctx.append(store_ctx)
