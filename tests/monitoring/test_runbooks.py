"""Every alert has a runbook with the four sections operators rely on, and no runbook is orphaned."""

from __future__ import annotations

import re
from typing import Any

from tests.monitoring.conftest import ROOT

RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("## Symptom", "## What to check", "## How to fix", "## How to verify")


def test_each_alert_runbook_has_all_sections(alert_rules: list[dict[str, Any]]) -> None:
    for rule in alert_rules:
        page = RUNBOOKS / f"{rule['alert']}.md"
        text = page.read_text()
        assert text.startswith(f"# {rule['alert']}\n"), f"{page.name}: title must be the alert name"
        for section in SECTIONS:
            assert re.search(rf"^{re.escape(section)}\b", text, re.MULTILINE), f"{page.name}: no {section!r}"
        # "what to check" must give commands to run, not prose only
        assert "```" in text, f"{page.name}: no commands"


def test_no_alert_runbook_without_an_alert(alert_rules: list[dict[str, Any]]) -> None:
    """Pages named like alerts (CamelCase) belong to an alert; lowercase pages are procedures."""
    names = {rule["alert"] for rule in alert_rules}
    pages = {p.stem for p in RUNBOOKS.glob("*.md") if p.stem[0].isupper()} - {"README"}
    assert pages == names, f"orphans: {sorted(pages - names)}, missing: {sorted(names - pages)}"


def test_runbook_links_resolve() -> None:
    for page in RUNBOOKS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name}: broken link {target}"
