"""Consolidation: duplicate issues merged with aliases and history, unsure pairs suggested for review,
rejected pairs never asked again, and the call budget.

Runs go through main.main (`--consolidate`, `--apply-review`) against FakeOpenAI over real sockets; its
embeddings are a hashed bag of words, so issues and tickets that share words are close.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

import main
from candidates import IssueIndex
from consolidation import ask_about_close_pairs
from conversation_utils import ConversationStore
from decider import FinishedRun
from issue_clusterer import IssueDB
from llm_classifier import Asked
from records import Answer, Outcome, PairVerdict, RunStats
from tests.fake_openai import FakeOpenAI, hashed_embedding, issues_in

NOW = "2026-11-20T10:00:00Z"
RESET = "Password reset email never arrives"
RESET_AGAIN = "Password reset email does not arrive"
INVOICE = "Invoice PDF shows the wrong VAT rate"

TICKETS = {  # ticket id: (the issue's category its answer gave, the customer's words)
    1: (RESET, "password reset email never arrives in my inbox"),
    2: (RESET, "the password reset email never arrives"),
    3: (RESET_AGAIN, "password reset email does not arrive at all"),
    4: (RESET_AGAIN, "reset email for my password does not arrive"),
    5: (INVOICE, "invoice pdf shows the wrong vat rate"),
}


def build_db(root: Path) -> Path:
    """Three confirmed issues, two of them one problem worded twice, with their tickets' conversations."""
    store = ConversationStore(root / "conversations")
    db = IssueDB(embedding_model="fake-embed", embedding_text="problem-statement")
    issue_of: dict[str, str] = {}
    for ticket_id, (category, words) in TICKETS.items():
        store.save({"ticket_id": ticket_id, "subject": words.capitalize(), "status": 4, "created_at": NOW,
                    "updated_at": NOW, "url": f"https://acme.freshdesk.com/a/tickets/{ticket_id}",
                    "messages": [{"speaker": "user", "text": words, "private": False, "incoming": True,
                                  "created_at": NOW}]}, {"ticket": {"id": ticket_id}})
        answer = Answer(issue_of.get(category), category, category.lower().split()[:3], f"Cause: {category}.",
                        ["Fix it."], 0.95)
        issue_of[category] = db.apply(Outcome(ticket_id, answer), threshold=0.7, updated_at=NOW, now=NOW).issue_id
    path = root / "output" / "silo_issues_db.json"
    db.save(path)
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_")) or name == "CONFIDENCE_THRESHOLD":
            monkeypatch.delenv(name)
    with FakeOpenAI() as server:
        for name, value in {"LLM_API_BASE_URL": server.base_url, "LLM_MODEL": "fake-model",
                            "EMBEDDING_API_BASE_URL": server.base_url, "EMBEDDING_MODEL": "fake-embed"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield server


def pairs_asked(server: FakeOpenAI) -> list[list[str]]:
    return [sorted(i["issue_id"] for i in issues_in(r)) for r in server.requests if issues_in(r)]


def verdict(same: bool, confidence: float):
    def answer(request: dict) -> str:
        ids = sorted(i["issue_id"] for i in issues_in(request))
        return json.dumps({"same_problem": same, "keep_issue_id": ids[0] if same else None,
                           "confidence": confidence, "notes": "judged"})
    return answer


def test_two_duplicate_issues_are_consolidated_with_aliases_and_history(fake, tmp_path, capsys):
    path = build_db(tmp_path)
    fake.consolidation = verdict(True, 0.9)
    assert main.main(["--consolidate", "--quiet"]) == 0
    assert "1 issue merged into older ones" in capsys.readouterr().out

    db = IssueDB.load(path)
    assert pairs_asked(fake) == [["ISS-0001", "ISS-0002"]]  # the close pair, not the invoice
    assert sorted(db.issues) == ["ISS-0001", "ISS-0003"]
    assert db.issues["ISS-0001"].ticket_ids == [1, 2, 3, 4] and db.issues["ISS-0001"].aliases == ["ISS-0002"]
    assert db.issues["ISS-0001"].category == RESET  # the older issue keeps its names
    assert db.resolve("ISS-0002") == "ISS-0001"
    entry = db.history[-1]
    assert (entry.action, entry.details["kept"], entry.details["merged"]) == ("consolidate", "ISS-0001", "ISS-0002")
    assert entry.details["ticket_ids"] == [3, 4] and entry.details["confidence"] == 0.9
    # Both issues came with examples of their tickets' problem statements, delimited as data.
    shown = issues_in(next(r for r in fake.requests if issues_in(r)))
    assert all(issue["examples"] for issue in shown)
    assert not (tmp_path / "output" / "merge_suggestions.csv").read_text().strip().count("\n")


def test_an_unsure_pair_becomes_a_suggestion_and_a_rejected_one_is_never_asked_again(fake, tmp_path, capsys):
    path = build_db(tmp_path)
    fake.consolidation = verdict(True, 0.5)
    assert main.main(["--consolidate", "--quiet"]) == 0
    db = IssueDB.load(path)
    assert sorted(db.issues) == ["ISS-0001", "ISS-0002", "ISS-0003"]  # nothing merged without confidence
    merge_csv = tmp_path / "output" / "merge_suggestions.csv"
    rows = list(csv.DictReader(merge_csv.open()))
    assert [(r["keep_issue_id"], r["merge_issue_id"], r["decision"]) for r in rows] == [("ISS-0001", "ISS-0002", "")]
    assert rows[0]["confidence"] == "0.50" and "may be one problem" in rows[0]["reason"]

    rows[0]["decision"] = "reject"
    with merge_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main.main(["--apply-review", str(merge_csv), "--quiet"]) == 0
    assert IssueDB.load(path).merge_suggestions[0].status == "rejected"
    assert list(csv.DictReader(merge_csv.open())) == []

    asked = len(pairs_asked(fake))
    fake.consolidation = verdict(True, 0.99)  # however sure the model would be now
    assert main.main(["--consolidate", "--quiet"]) == 0
    assert len(pairs_asked(fake)) == asked  # the rejected pair is not asked again
    assert sorted(IssueDB.load(path).issues) == ["ISS-0001", "ISS-0002", "ISS-0003"]


def test_an_accepted_suggestion_merges_the_pair(fake, tmp_path, capsys):
    path = build_db(tmp_path)
    fake.consolidation = verdict(True, 0.5)
    assert main.main(["--consolidate", "--quiet"]) == 0
    merge_csv = tmp_path / "output" / "merge_suggestions.csv"
    text = merge_csv.read_text().replace(",\n", ",accept\n")
    merge_csv.write_text(text)
    assert main.main(["--apply-review", str(merge_csv), "--quiet"]) == 0
    db = IssueDB.load(path)
    assert "ISS-0002" not in db.issues and db.issues["ISS-0001"].aliases == ["ISS-0002"]
    assert [e.action for e in db.history][-2:] == ["consolidate", "review"]


def test_an_invalid_answer_is_a_suggestion_never_a_merge(fake, tmp_path):
    path = build_db(tmp_path)
    fake.consolidation = lambda request: json.dumps({"same_problem": True, "keep_issue_id": "ISS-0042",
                                                     "confidence": 0.99, "notes": ""})
    assert main.main(["--consolidate", "--quiet"]) == 0
    db = IssueDB.load(path)
    assert sorted(db.issues) == ["ISS-0001", "ISS-0002", "ISS-0003"]
    [suggestion] = db.merge_suggestions
    assert suggestion.status == "pending" and "keep_issue_id 'ISS-0042'" in suggestion.reason
    assert len(pairs_asked(fake)) == 2  # the question and its one corrective retry


def test_the_budget_is_one_call_per_two_issues_and_the_runs_calls_per_ticket():
    db = IssueDB(embedding_model="m")
    for ticket_id in range(1, 9):  # eight issues, all alike
        db.apply(Outcome(ticket_id, Answer(None, f"Printer jam {ticket_id}", [], "", [], 0.9)), threshold=0.7,
                 updated_at=NOW, now=NOW)
    index = IssueIndex(db, lambda texts: np.array([hashed_embedding("printer jam")] * len(texts)), 384)
    index.build(None)
    asked: list[list[str]] = []

    def judge(issues):
        asked.append([i["issue_id"] for i in issues])
        return Asked(PairVerdict(False, None, 0.9), calls=1)

    stats = RunStats(tickets_classified=8, model_calls=8, new_issue_ids=sorted(db.issues))
    ask_about_close_pairs(FinishedRun(db, index, stats, lambda _t: None, lambda: NOW), judge, threshold=0.7)
    assert len(asked) == 1  # 8 tickets allow 9 calls in all (1.15 a ticket): 8 were first answers
    stats = RunStats(tickets_classified=100, model_calls=100, new_issue_ids=sorted(db.issues))
    ask_about_close_pairs(FinishedRun(db, index, stats, lambda _t: None, lambda: NOW), judge, threshold=0.7)
    assert len(asked) == 1 + 4  # one call per two issues the run touched
    assert len({tuple(pair) for pair in asked}) == len(asked)  # a pair judged different is not asked twice
