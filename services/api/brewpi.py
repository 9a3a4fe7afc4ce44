"""BrewPi's temperature-profile CSV, in and out.

BrewPi writes `date,temperature,days`: one row per point, `date` in local time as
`2024-03-01T12:00:00`, `temperature` in °C, `days` since the first point (for
people; BrewPi itself reads only the date). An empty temperature cell means
"control off" for that segment — `null` in a Maelstrom profile.

On import the dates become offsets from the first one, so the profile can start
any day (`absolute=True` keeps them as dates instead); where a row has no usable
date, `days` is used. Unlike BrewPi, which skips rows it cannot read, a row we
cannot read is refused, naming its line.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from services.api.errors import Invalid
from services.common.problems import Location, problems
from services.common.schema.config import Interpolation, Profile

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
HEADER = ("date", "temperature", "days")


def _problem(line: int, field: str, message: str) -> Invalid:
    return Invalid("invalid BrewPi CSV", [{"field": f"line {line}: {field}", "message": message}])


def _parse_date(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, DATE_FORMAT)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.astimezone()  # BrewPi: the Pi's local time


def _parse_number(text: str, line: int, field: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _problem(line, field, f"{text[:30]!r} is not a number") from None
    if not math.isfinite(value):
        raise _problem(line, field, f"{text[:30]!r} is not a finite number")
    return value


def parse_profile_csv(
    text: str,
    profile_id: str,
    name: str = "",
    interpolation: Interpolation = Interpolation.linear,
    absolute: bool = False,
) -> Profile:
    try:
        # newline="": a bare \r (old Mac line ends) ends a row instead of breaking the reader.
        rows = [
            (n, row)
            for n, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
            if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise Invalid("invalid BrewPi CSV", [{"field": "body", "message": str(exc)}]) from None
    if not rows:
        raise Invalid(
            "invalid BrewPi CSV",
            [{"field": "body", "message": "empty: expected a date,temperature,days header"}],
        )
    header_line, header = rows[0]
    columns = [c.strip().strip('"').lower() for c in header]
    if "temperature" not in columns or not ({"date", "days"} & set(columns)):
        raise _problem(
            header_line, "header", f"expected date,temperature,days, got {','.join(header)[:80]!r}"
        )
    col = {name: columns.index(name) for name in HEADER if name in columns}
    if len(rows) == 1:
        raise Invalid(
            "invalid BrewPi CSV", [{"field": "body", "message": "no rows after the header"}]
        )

    parsed: list[tuple[int, datetime | None, float | None, float | None]] = []
    for line, row in rows[1:]:
        if len(row) < len(columns):
            raise _problem(line, "row", f"expected {len(columns)} cells, got {len(row)}")
        date = None
        if "date" in col:
            raw = row[col["date"]]
            date = _parse_date(raw)
            if date is None and raw.strip() and "days" not in col:
                raise _problem(line, "date", f"{raw[:30]!r} is not a date like 2024-03-01T12:00:00")
        days = _parse_number(row[col["days"]], line, "days") if "days" in col else None
        temperature = _parse_number(row[col["temperature"]], line, "temperature")
        if date is None and days is None:
            raise _problem(line, "date", "needs a date or a days value")
        parsed.append((line, date, days, temperature))

    use_dates = all(date is not None for _, date, _, _ in parsed)
    if absolute and not use_dates:
        raise Invalid(
            "invalid BrewPi CSV",
            [{"field": "date", "message": "absolute import needs a date on every row"}],
        )
    column = "date" if use_dates else "days"
    keys: list[tuple[int, datetime | float | None]] = [
        (line, date if use_dates else days) for line, date, days, _ in parsed
    ]
    for line, key in keys:
        if key is None:
            raise _problem(line, "days", "needs a days value when not every row has a date")
    for (_, before), (line, key) in itertools.pairwise(keys):
        if key <= before:  # type: ignore[operator]
            raise _problem(line, column, "must be later than the row before")
    points = []
    first = parsed[0][1]
    for _, date, days, temperature in parsed:
        if absolute:
            points.append({"at": date, "temperature": temperature})
        elif use_dates and first is not None and date is not None:
            points.append({"offset": (date - first).total_seconds(), "temperature": temperature})
        else:
            points.append({"offset": (days or 0.0) * 86400.0, "temperature": temperature})
    try:
        return Profile.model_validate(
            {"id": profile_id, "name": name, "interpolation": interpolation, "points": points}
        )
    except ValidationError as exc:

        def csv_line(loc: Location) -> str | None:  # points.3.temperature → its CSV line
            if len(loc) >= 2 and loc[0] == "points" and isinstance(loc[1], int):
                return f"line {parsed[loc[1]][0]}: {'.'.join(str(p) for p in loc[2:]) or 'row'}"
            return None

        raise Invalid("invalid BrewPi CSV", problems(exc, field=csv_line)) from exc


def format_profile_csv(profile: Profile, start: datetime | None = None) -> str:
    """The profile as BrewPi CSV; relative points are dated from `start` (default: now)."""
    start = (start or datetime.now(UTC)).replace(microsecond=0)
    if start.tzinfo is None:
        start = start.astimezone()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    first: datetime | None = None
    for point in profile.points:
        when = point.at if point.at is not None else start + timedelta(seconds=point.offset or 0.0)
        first = first or when
        local = when.astimezone().replace(tzinfo=None)
        days = (when - first).total_seconds() / 86400.0
        temperature = "" if point.temperature is None else f"{point.temperature:g}"
        writer.writerow((local.strftime(DATE_FORMAT), temperature, f"{days:.4f}"))
    return out.getvalue()
