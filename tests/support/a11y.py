"""axe-core on a page as rendered in the real browser: any violation fails, listing what
and where (for the pages added after the first browser suites, which carry their own)."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe


def assert_accessible(page, where: str) -> None:
    page.wait_for_load_state("load")
    violations = Axe().run(page).response["violations"]
    report = [
        f"{v['id']} [{v.get('impact')}] {v['description']}\n"
        + "\n".join(f"    at {n['target']}: {n.get('failureSummary', '')}" for n in v["nodes"])
        for v in violations
    ]
    assert not violations, f"axe-core found {len(violations)} violation(s) on {where} ({page.url}):\n" + "\n".join(report)
