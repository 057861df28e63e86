"""What a command hands back to the command line: text for people, one JSON object for scripts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from records import JSONObject


@dataclass(frozen=True)
class CommandResult:
    """The command's text, its data for `--json`, and an exit code with a one-line error when it did not pass."""

    text: str
    data: JSONObject = field(default_factory=dict)
    exit_code: int = 0
    error: str = ""

    def render(self, as_json: bool) -> str:
        if as_json:
            return json.dumps(self.data, indent=2, sort_keys=True, ensure_ascii=False)
        return self.text


def whole_numbers(data: JSONObject, counts: tuple[str, ...], amounts: tuple[str, ...] = ()) -> JSONObject:
    """The same data for scripts: the named counts as integers (estimates rounded), and the named amounts
    (credits, possibly fractional) as integers when they are whole."""

    def fixed(key: str, value: object) -> object:
        if isinstance(value, float) and (key in counts or (key in amounts and value.is_integer())):
            return round(value)
        return value

    return {key: fixed(key, value) for key, value in data.items()}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 review decision`, `2 review decisions`."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
