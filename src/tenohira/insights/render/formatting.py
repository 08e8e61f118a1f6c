"""Numbers as the Japanese report prints them.

1,804 (thousands separators); 22.8% (rates keep the decimals the report computed: one,
or two for the cashless ratio); differences with a sign, and decreases with △ instead of
a minus (△25, △3.4); zero differences as ±0. Rate differences are in points (ポイント):
the unit is named in the column heading, never written as %.

The values are the report's own (already rounded by insights.numbers, half-up to 0.1);
nothing here rounds a rate again. Hours and yen without a fraction print as integers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MISSING = "－"
DECREASE = "△"

#: Cell kinds: how a column's values are printed (and, in XLSX, their number format).
TEXT, COUNT, DIFF, RATE, POINTS, HOURS, YEN, NUMBER = (
    "text", "count", "diff", "rate", "points", "hours", "yen", "number",
)
NUMERIC_KINDS = {COUNT, DIFF, RATE, POINTS, HOURS, YEN, NUMBER}


def _decimal(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def decimals_of(value, minimum: int = 1) -> int:
    """How many decimals a rate was computed with (22.8 → 1, 15.96 → 2, 20 → minimum)."""
    number = _decimal(value)
    if number is None:
        return minimum
    exponent = number.normalize().as_tuple().exponent
    return max(minimum, -exponent if isinstance(exponent, int) and exponent < 0 else 0)


def _grouped(number: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}"


def count(value) -> str:
    number = _decimal(value)
    if number is None:
        return MISSING
    return _grouped(number, 0)


def signed(value, places: int = 0) -> str:
    """+43, △25, ±0 (places=1: +2.7, △3.4, ±0.0)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    text = _grouped(abs(number), places)
    if number > 0:
        return "+" + text
    if number < 0:
        return DECREASE + text
    return "±" + text


def rate(value, *, places: int | None = None, percent_sign: bool = True) -> str:
    number = _decimal(value)
    if number is None:
        return MISSING
    text = _grouped(number, decimals_of(value) if places is None else places)
    if number < 0:
        text = DECREASE + text.lstrip("-")
    return text + ("%" if percent_sign else "")


def hours(value) -> str:
    number = _decimal(value)
    if number is None:
        return MISSING
    return _grouped(number, 0 if number == number.to_integral_value() else 1)


def yen(value) -> str:
    number = _decimal(value)
    if number is None:
        return MISSING
    return _grouped(number, 0)


def number(value) -> str:
    parsed = _decimal(value)
    if parsed is None:
        return MISSING
    places = decimals_of(value, minimum=0)
    return _grouped(parsed, min(places, 2))


def cell(value, kind: str) -> str:
    """A value as the HTML and PDF tables print it."""
    if kind == TEXT:
        return MISSING if value is None else str(value)
    if kind == COUNT:
        return count(value)
    if kind == DIFF:
        return signed(value, min(decimals_of(value, minimum=0), 1))
    if kind == RATE:
        return rate(value)
    if kind == POINTS:
        return signed(value, 1)
    if kind == HOURS:
        return hours(value)
    if kind == YEN:
        return yen(value)
    return number(value)


def points_text(value) -> str:
    """In running text: +3.4ポイント, △3.4ポイント."""
    text = signed(value, 1)
    return text if text == MISSING else text + "ポイント"
