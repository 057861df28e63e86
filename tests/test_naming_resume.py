"""Naming is part of the run's durable state: an interrupted, resumed demo run ends with every issue named,
and --reclassify gives back the ids of the issues it does not change."""

from __future__ import annotations

import json

import pytest

import main
import ticket_sources


def _issues(workdir) -> dict[str, dict]:
    db = json.loads((workdir / "output" / "demo_issues_db.json").read_text(encoding="utf-8"))
    return {i["issue_id"]: i for i in db["issues"]}


@pytest.mark.slow
def test_interrupted_demo_resumes_named_and_reclassify_keeps_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = ticket_sources.DemoSource.conversations

    def cut_at_75(self):
        for number, conversation in enumerate(original(self)):
            if number == 75:
                raise KeyboardInterrupt  # Ctrl-C part-way through the run
            yield conversation

    monkeypatch.setattr(ticket_sources.DemoSource, "conversations", cut_at_75)
    assert main.main(["--demo", "--quiet"]) == 130
    monkeypatch.setattr(ticket_sources.DemoSource, "conversations", original)
    assert main.main(["--demo", "--quiet"]) == 0
    resumed = _issues(tmp_path)
    assert resumed and all(i["category"] and i["category"] != "Unnamed issue" for i in resumed.values())

    assert main.main(["--demo", "--quiet", "--reclassify"]) == 0
    after = _issues(tmp_path)
    assert all(i["category"] != "Unnamed issue" for i in after.values())
    # An issue whose tickets are exactly the same after reclassifying keeps its id.
    same = {issue_id for issue_id, issue in resumed.items()
            if any(sorted(other["ticket_ids"]) == sorted(issue["ticket_ids"]) for other in after.values())}
    kept = {issue_id for issue_id in same if sorted(after.get(issue_id, {}).get("ticket_ids", [])) ==
            sorted(resumed[issue_id]["ticket_ids"])}
    assert same and kept == same
