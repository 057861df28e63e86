"""The README's walk-through, run as printed on the demo desk: run, read, review in the CSV, apply, refreshed."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Demo data that may never reach an issue's name or keywords (demo_data/demo_content.py invents them).
sys.path.insert(0, str(ROOT / "demo_data"))
from demo_content import AGENTS, COMPANIES, FIRST_NAMES, LAST_NAMES  # noqa: E402


def walkthrough_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough:.*?-->\n```bash\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("python -m main")]


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("FRESHDESK_DOMAIN", "FRESHDESK_API_KEY"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_the_readme_walkthrough_flags_applies_and_refreshes_the_report(tmp_path):
    run, apply = walkthrough_commands()
    assert run[-1] == "--demo" and "--apply-review" in apply
    out = _run(run, tmp_path)
    flagged = int(re.search(r"(\d+) decisions? flagged for review", out).group(1))
    assert flagged >= 1

    output = tmp_path / "output"
    db = json.loads((output / "demo_issues_db.json").read_text(encoding="utf-8"))
    personal = {w.casefold() for w in FIRST_NAMES + LAST_NAMES}
    personal |= {a[1].split()[0].casefold() for a in AGENTS}
    personal |= {c[1].split(".")[0] for c in COMPANIES} | {c[0].split()[0].casefold() for c in COMPANIES}
    for issue in db["issues"]:
        words = set(re.findall(r"[^\W\d_]+", " ".join([issue["category"], *issue["keywords"]]).casefold()))
        assert issue["category"] and issue["category"] != "Unnamed issue"
        assert not words & personal, (issue["category"], issue["keywords"], words & personal)
        assert "@" not in issue["category"] and not any("@" in k for k in issue["keywords"])
        if len(issue["ticket_ids"]) >= 3:
            assert issue["root_cause"] and issue["resolution_steps"] is not None, issue["issue_id"]

    report = output / "demo_issues_db.report.html"
    before = report.read_text(encoding="utf-8")
    assert "extracted from agents' replies" in before
    csv_path = output / "demo_issues_db.flagged_for_review.csv"
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[0]["decision"] = "accept"  # what the reader types in a spreadsheet
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    out = _run(apply, tmp_path)
    assert "Applied 1 review decision;" in out and "report refreshed" in out
    after = report.read_text(encoding="utf-8")
    assert after != before
    assert f"{flagged - 1} flagged decisions" in after
    with csv_path.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == flagged - 1
    assert f"{flagged - 1} flagged decisions" in (output / "demo_issues_db.digest.md").read_text(encoding="utf-8")
