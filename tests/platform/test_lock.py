"""The lock files name every dependency of pyproject.toml, each with hashes: bootstrap
installs only from them (--require-hashes, then Tenohira itself with --no-deps), so a
dependency added to pyproject.toml but missing from a lock would be missing at run time."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _locked(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text(encoding="utf-8")
    entries = re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M)
    return {name.lower().replace("_", "-"): version for name, version, _hashes in entries}


def test_every_dependency_is_locked_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    test = {_name(r) for r in project["optional-dependencies"]["test"]}
    app_lock, test_lock = _locked("requirements.lock"), _locked("requirements-test.lock")
    assert runtime - set(app_lock) == set()
    assert (runtime | test) - set(test_lock) == set()
    # The application's versions are the same in both files.
    assert {name: test_lock[name] for name in app_lock} == app_lock
    # Nothing unpinned or without a hash slipped in.
    for lock in ("requirements.lock", "requirements-test.lock"):
        lines = [line for line in (ROOT / lock).read_text(encoding="utf-8").splitlines()
                 if line and not line.startswith((" ", "#"))]
        assert all(re.match(r"^[A-Za-z0-9._-]+==\S+ \\$", line) for line in lines), lines
