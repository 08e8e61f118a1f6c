"""The one rounding rule of every DX figure: rates in percent, rounded half-up to 0.1,
once, at the end.

Rates are computed exactly (as fractions) from their counts and rounded only when they
are shown, so 56.05 becomes 56.1 (never banker's 56.0) and a difference of two rates is
the difference of the exact rates, rounded once. Totals are summed from counts, never from
rounded department figures.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

TENTH = Decimal("0.1")


def exact_pct(numerator: int, denominator: int) -> Fraction | None:
    """numerator ÷ denominator × 100 as an exact fraction; None when the denominator is 0."""
    if not denominator:
        return None
    return Fraction(numerator) * 100 / Fraction(denominator)


def round1(value: Fraction | Decimal | int | float | None) -> Decimal | None:
    """Half-up to one decimal (away from zero for negatives: -2.65 → -2.7)."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        sign = -1 if value < 0 else 1
        tenths = abs(value) * 10
        whole, remainder = divmod(tenths.numerator, tenths.denominator)
        if 2 * remainder >= tenths.denominator:
            whole += 1
        return (Decimal(sign * whole) / 10).quantize(TENTH)
    return Decimal(str(value)).quantize(TENTH, rounding=ROUND_HALF_UP)


def pct(numerator: int, denominator: int) -> Decimal | None:
    """The rate in percent, rounded half-up to 0.1; None when the denominator is 0."""
    return round1(exact_pct(numerator, denominator))


def points(a: Fraction | Decimal | int | None, b: Fraction | Decimal | int | None) -> Decimal | None:
    """a − b in points, rounded half-up to 0.1 once. Pass exact rates (exact_pct) so the
    difference is rounded once; None when either is unknown."""
    if a is None or b is None:
        return None
    if isinstance(a, Fraction) or isinstance(b, Fraction):
        return round1(Fraction(a) - Fraction(b))
    return round1(Decimal(str(a)) - Decimal(str(b)))


# A published rate is printed to 0.1: it agrees with its counts when it is the computed rate
# rounded (any rounding of the same figure stays within half a tenth).
FLAG_TOLERANCE = Decimal("0.05")


def rate_disagrees(published: Decimal, computed: Decimal | None) -> bool:
    """True when a published rate contradicts the rate computed from its counts: off by
    more than 0.05 points, or printed where there is nothing to divide (then only 0.0 is
    consistent)."""
    if computed is None:
        return published != 0
    return abs(published - computed) > FLAG_TOLERANCE


def points_disagree(published: Decimal, current: Fraction | None, previous: Fraction | None) -> bool:
    """True when a published difference of two rates (points) is neither the difference of
    the exact rates rounded once (how Tenohira prints it) nor the difference of the two
    rounded rates (how a hand-made table often does)."""
    if current is None or previous is None:
        return False
    accepted = (points(current, previous), round1(current) - round1(previous))
    return all(abs(published - value) > FLAG_TOLERANCE for value in accepted)
