"""Show/hide and required-if conditions, evaluated on the server from earlier answers."""

from __future__ import annotations

from typing import Any


class Scope:
    """Answers visible from one place: a group row's siblings first, then the whole form."""

    def __init__(self, answers: dict[str, Any], parent: Scope | None = None):
        self.answers = answers
        self.parent = parent

    def get(self, key: str) -> Any:
        if key in self.answers:
            return self.answers[key]
        return self.parent.get(key) if self.parent else None

    def child(self, row: dict[str, Any]) -> Scope:
        return Scope(row, self)


def _answered(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


def holds(condition: dict | None, scope: Scope) -> bool:
    if condition is None:
        return True
    if "all" in condition:
        return all(holds(part, scope) for part in condition["all"])
    if "any" in condition:
        return any(holds(part, scope) for part in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], scope)
    value = scope.get(condition["field"])
    if "equals" in condition:
        return _same(value, condition["equals"])
    if "in" in condition:
        return any(_same(value, option) for option in condition["in"])
    if "contains" in condition:
        return isinstance(value, list) and condition["contains"] in value
    return _answered(value) == bool(condition["answered"])


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected
    return value is not None and str(value) == str(expected)
