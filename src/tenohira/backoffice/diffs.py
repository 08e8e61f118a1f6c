"""Differences between versions of an application (the first submission and each
resubmission after a 差戻し), as staff read them: item, old value → new value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Change:
    section: str
    label: str
    old: str | None  # None: the item did not exist in the older version
    new: str | None  # None: the item is gone in the newer version

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


@dataclass
class VersionDiff:
    older: object  # SubmissionVersion
    newer: object
    changes: list[Change]


def _items(summary: list[dict]) -> dict[tuple[str, str], str]:
    """(step title, item label) → shown value, in page order."""
    found: dict[tuple[str, str], str] = {}
    for section in summary or []:
        for item in section.get("items", []):
            found[(section.get("title", ""), item.get("label", ""))] = str(item.get("value", ""))
    return found


def compare(old_summary: list[dict], new_summary: list[dict]) -> list[Change]:
    """The items whose shown value differs, in the newer version's order, then the items
    only the older version had."""
    old, new = _items(old_summary), _items(new_summary)
    changes = [
        Change(section, label, old.get((section, label)), value)
        for (section, label), value in new.items()
        if old.get((section, label)) != value
    ]
    changes += [Change(section, label, value, None) for (section, label), value in old.items() if (section, label) not in new]
    return changes


def consecutive(versions: list) -> list[VersionDiff]:
    """Newest first: version n compared with version n-1, for every n > 1."""
    ordered = sorted(versions, key=lambda v: v.number)
    return [VersionDiff(a, b, compare(a.summary, b.summary)) for a, b in zip(ordered, ordered[1:], strict=False)][::-1]
