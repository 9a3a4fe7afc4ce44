"""pydantic's validation errors in words, the same way in every service."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.problems import first_problem, problems
from services.common.schema.config import Loop, Setting


def _error(model: type, data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value


def test_problems_name_each_field() -> None:
    exc = _error(Setting, {"key": "Units!", "colour": "red"})
    found = {p["field"]: p["message"] for p in problems(exc)}
    assert set(found) == {"key", "value", "colour"}
    assert not found["key"].startswith("Value error")  # our validator's own words
    assert problems(exc, prefix="settings.0")[0]["field"].startswith("settings.0.")
    renamed = problems(exc, messages={"extra_forbidden": "unknown field"})
    assert {"field": "colour", "message": "unknown field"} in renamed


def test_an_error_about_the_whole_input_is_named_so() -> None:
    exc = _error(Loop, [1])
    assert problems(exc)[0]["field"] == "body"
    assert problems(exc, whole="query")[0]["field"] == "query"
    assert first_problem(exc).startswith("payload: ")


def test_first_problem_is_one_sentence() -> None:
    exc = _error(Setting, {"key": "units", "value": 1, "version": "one"})
    assert (
        first_problem(exc)
        == "version: Input should be a valid integer, unable to parse string as an integer"
    )
