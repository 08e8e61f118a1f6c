"""Computed values: a tiny arithmetic language over answers, evaluated on the server.

    {"mul": [{"field": "copies"}, 300]}                       copies × ¥300
    {"sum_over": ["items", {"mul": [{"option": ["item", "fee"]}, {"field": "quantity"}]}]}
    {"add": [...]}, {"count": "children"}

`field` reads a number answer; `option` reads an attribute of the chosen option of a
choice field (e.g. each item's fee); `sum_over` evaluates its expression once per row of a
repeating group, where field names refer to that row first. Unanswered values count as 0,
so a fee shows 0円 until the resident has chosen.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class ExpressionError(ValueError):
    pass


_OPERATORS = {"add", "mul", "sum_over", "count", "field", "option"}


def references(expression: Any) -> list[str]:
    """Field keys an expression reads (raises ExpressionError when malformed)."""
    if isinstance(expression, int | float) and not isinstance(expression, bool):
        return []
    if not isinstance(expression, dict) or len(expression) != 1:
        raise ExpressionError(f"計算式 {expression!r} を読み取れません。")
    (operator, argument), = expression.items()
    if operator not in _OPERATORS:
        raise ExpressionError(f"計算式の「{operator}」は使えません（add, mul, sum_over, count, field, option）。")
    if operator in {"add", "mul"}:
        if not isinstance(argument, list) or not argument:
            raise ExpressionError(f"{operator} には式のリストを指定します。")
        return [key for part in argument for key in references(part)]
    if operator == "field":
        if not isinstance(argument, str):
            raise ExpressionError("field には項目の key を指定します。")
        return [argument]
    if operator == "option":
        if not (isinstance(argument, list) and len(argument) == 2 and all(isinstance(a, str) for a in argument)):
            raise ExpressionError('option は ["項目のkey", "属性名"] です。')
        return [argument[0]]
    if operator == "count":
        if not isinstance(argument, str):
            raise ExpressionError("count には繰り返し項目の key を指定します。")
        return [argument]
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
        raise ExpressionError('sum_over は ["繰り返し項目のkey", 式] です。')
    # Inside sum_over a name means the row's field first: report it as "group.name"
    # (the schema check falls back to a top-level field of that name).
    group = argument[0]
    return [group, *(name if "." in name else f"{group}.{name}" for name in references(argument[1]))]


def evaluate(expression: Any, scope, fields, group: str | None = None) -> Decimal:
    """`scope` looks names up (a row, then the whole form); `fields` maps key → Field
    (group children as "group.key"); `group` is the group whose row `scope` starts at."""
    if isinstance(expression, int | float):
        return Decimal(str(expression))
    (operator, argument), = expression.items()
    if operator == "add":
        return sum((evaluate(part, scope, fields, group) for part in argument), Decimal(0))
    if operator == "mul":
        result = Decimal(1)
        for part in argument:
            result *= evaluate(part, scope, fields, group)
        return result
    if operator == "field":
        return _number(scope.get(argument))
    if operator == "option":
        key, attr = argument
        chosen = scope.get(key)
        field = (fields.get(f"{group}.{key}") if group else None) or fields.get(key)
        for choice in (field.option("choices", []) if field else []):
            if str(choice["value"]) == chosen:
                return _number(choice.get(attr))
        return Decimal(0)
    if operator == "count":
        return Decimal(len(scope.get(argument) or []))
    over, inner = argument
    total = Decimal(0)
    for row in scope.get(over) or []:
        total += evaluate(inner, scope.child(row), fields, over)
    return total


def _number(value: Any) -> Decimal:
    if value in (None, "") or isinstance(value, bool):
        return Decimal(0)
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal(0)
