"""docs/programs.md: the profile and command payloads it shows are ones the code takes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from services.common.schema.commands import parse_loop_command, parse_simulate_command
from services.common.schema.config import Profile, ProfileStep, StepCondition

DOC = Path(__file__).parents[2] / "docs" / "programs.md"


def shell_lines() -> list[list[str]]:
    text = DOC.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = []
    for block in blocks:
        lines += [shlex.split(cmd) for cmd in re.split(r"\n(?=\S)", block.strip()) if cmd]
    return lines


def test_every_command_in_the_doc_parses() -> None:
    seen = 0
    for words in shell_lines():
        if words[0] == "mosquitto_pub":
            topic, payload = words[words.index("-t") + 1], words[words.index("-m") + 1]
            if topic.endswith("/simulate"):
                parse_simulate_command(payload.encode())
            else:
                parse_loop_command(topic.rsplit("/", 1)[1], payload.encode())
            seen += 1
        elif words[0] == "curl" and "-d" in words:
            body = words[words.index("-d") + 1]
            path = next(w for w in words if w.startswith("localhost:8888/"))
            if path.endswith("/api/profiles"):
                Profile.model_validate(json.loads(body))
            else:
                parse_loop_command(path.rsplit("/", 1)[1], body.encode())
            seen += 1
    assert seen >= 10


def test_the_json_examples_are_valid() -> None:
    text = DOC.read_text()
    step = json.loads(re.search(r"```json\n(\{\"name\": \"Beta rest\".*?)```", text, re.S)[1])
    ProfileStep.model_validate(step)
    limit = re.search(r"`(\{\"type\": \"gravity\", [^`]*)`", text)[1]
    StepCondition.model_validate(json.loads(limit))
