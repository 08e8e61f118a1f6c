"""The lottery draw (抽選), as a pure function anyone can re-run.

Nothing here touches the database or the clock: the result depends only on the seed, the
entries and the places per slot, which are all published after the draw (the seed's
SHA-256 is published from the day entries open, so the seed cannot have been chosen after
seeing the entries). `tenohira reservations redraw` runs `draw` on the published CSV files.

The rule, in full:

1. Each entry gets a key: HMAC-SHA256 with the seed (UTF-8) as the key and the entry
   number written in decimal (UTF-8) as the message, as 64 lowercase hex digits.
2. Entries are taken in order of their priority group (the group's place in
   `priority_order`, by default the group number itself, smallest first; 市内在住・在勤
   before others, for example), then by key (as text), then by entry number.
3. Each entry in turn gets its first wish (a slot id) with room for its places; else its
   next wish; else it loses. A slot's room starts at its published places.
4. The result's digest is the SHA-256 of one line per entry in entry-number order,
   ``<number>,<slot id or empty>\\n``, UTF-8, as 64 lowercase hex digits.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ENTRY_COLUMNS = ("number", "priority", "places", "wishes", "result")
CAPACITY_COLUMNS = ("slot_id", "places")


@dataclass(frozen=True)
class EntryRow:
    """One entry as published: no name, only what the draw uses."""

    number: int
    priority: int
    wishes: tuple[int, ...]
    places: int = 1


@dataclass(frozen=True)
class Result:
    order: tuple[int, ...]  # entry numbers in the order they were served
    won: dict  # {entry number: slot id or None}
    digest: str

    @property
    def winners(self) -> dict:
        return {number: slot for number, slot in self.won.items() if slot is not None}


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def entry_key(seed: str, number: int) -> str:
    return hmac.new(seed.encode(), str(int(number)).encode(), hashlib.sha256).hexdigest()


def digest(won: dict) -> str:
    lines = "".join(f"{number},{'' if won[number] is None else won[number]}\n" for number in sorted(won))
    return hashlib.sha256(lines.encode()).hexdigest()


def draw(seed: str, entries: Iterable[EntryRow], capacities: dict, priority_order: Sequence[int] | None = None
         ) -> Result:
    """Draw: see the module's docstring for the rule. `capacities` is {slot id: places}."""
    entries = list(entries)
    numbers = [e.number for e in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError("entry numbers must be unique")
    rank = {group: i for i, group in enumerate(priority_order)} if priority_order is not None else None

    def group_rank(entry: EntryRow) -> int:
        if rank is None:
            return entry.priority
        return rank.get(entry.priority, len(rank))

    ordered = sorted(entries, key=lambda e: (group_rank(e), entry_key(seed, e.number), e.number))
    room = {int(slot): int(places) for slot, places in capacities.items()}
    won: dict = {}
    for entry in ordered:
        won[entry.number] = None
        for wish in entry.wishes:
            if room.get(int(wish), 0) >= entry.places:
                room[int(wish)] -= entry.places
                won[entry.number] = int(wish)
                break
    return Result(order=tuple(e.number for e in ordered), won=won, digest=digest(won))


# --- the published files (UTF-8, a header line; wishes separated by spaces) -----------


def entries_csv(entries: Iterable[EntryRow], won: dict | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ENTRY_COLUMNS)
    for e in sorted(entries, key=lambda e: e.number):
        result = "" if not won or won.get(e.number) is None else won[e.number]
        writer.writerow([e.number, e.priority, e.places, " ".join(str(w) for w in e.wishes), result])
    return out.getvalue()


def capacities_csv(capacities: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CAPACITY_COLUMNS)
    for slot in sorted(capacities, key=int):
        writer.writerow([int(slot), int(capacities[slot])])
    return out.getvalue()


def read_entries(text: str) -> tuple[list[EntryRow], dict]:
    """The entries and the published result ({number: slot id or None}) of entries_csv."""
    rows, published = [], {}
    for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))):
        number = int(row["number"])
        rows.append(EntryRow(number=number, priority=int(row["priority"]), places=int(row.get("places") or 1),
                             wishes=tuple(int(w) for w in (row.get("wishes") or "").split())))
        result = (row.get("result") or "").strip()
        published[number] = int(result) if result else None
    return rows, published


def read_capacities(text: str) -> dict:
    return {int(row["slot_id"]): int(row["places"]) for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
