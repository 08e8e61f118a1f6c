"""The demo city's reservations: facilities, resources, opening rules and two months of
slots. Safe to run again (everything is found by its code; slots that exist are kept).

Each area seeds its own module (base, lottery, counters, collection); `seed()` runs the
ones present, in this order.
"""

from __future__ import annotations

from importlib import import_module

AREAS = ("base", "lottery", "counters", "collection")


def seed(stdout=None) -> list[str]:
    """Seed every area; returns one line per area for the demo's output."""
    lines: list[str] = []
    for area in AREAS:
        try:
            module = import_module(f"tenohira.reservations.demo.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tenohira.reservations.demo.{area}":
                raise
            continue
        line = module.seed()
        if line:
            lines.append(line)
            if stdout is not None:
                stdout.write(line)
    return lines
