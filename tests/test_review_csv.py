"""The flagged-for-review CSV: safe cells, rows and columns, the review loop, carried decisions."""

from __future__ import annotations

import csv
import io

import pytest

from errors import UsageError
from issue_clusterer import IssueDB
from records import TicketInfo
from review_csv import apply_review, defuse_cell, read_review_decisions, render_flagged_csv, write_flagged_csv
from tests.test_issue_clusterer import NOW, answer, apply


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1 555", "'+1 555"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("plain", "plain"), (None, ""),
])
def test_csv_cells_are_defused(value, cell):
    assert defuse_cell(value) == cell


def flagged_db():
    db = IssueDB(embedding_model="m")
    apply(db, 1, answer(None, 0.9, category="Login"))
    apply(db, 2, answer("ISS-0001", 0.4, category="=cmd|' /C calc'!A0"))
    apply(db, 3, answer(None, 0.5, category="Billing"))
    apply(db, 4, None, reason="no JSON")
    return db


def test_flagged_csv_rows_and_columns():
    db = flagged_db()
    tickets = {t: TicketInfo("", f"https://acme.freshdesk.com/a/tickets/{t}") for t in (2, 3, 4)}
    tickets[2] = TicketInfo("@bad subject", "https://acme.freshdesk.com/a/tickets/2")
    text = render_flagged_csv(db, tickets=tickets, carried_decisions={3: "new"})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["ticket_id"] for r in rows] == ["2", "3", "4"]
    assert rows[0]["suggested_issue_id"] == "ISS-0001"
    assert rows[0]["category"].startswith("'=")
    assert rows[0]["subject"] == "'@bad subject"
    assert rows[0]["ticket_url"] == "https://acme.freshdesk.com/a/tickets/2"
    assert rows[1]["decision"] == "new"
    assert rows[2]["reason"] == "no JSON" and rows[2]["category"] == "Unclassified"


def test_review_loop_round_trips(tmp_path):
    db = flagged_db()
    path = tmp_path / "flagged_for_review.csv"
    write_flagged_csv(path, db, tickets={})
    rows = list(csv.DictReader(path.open()))
    decisions = {"2": "accept", "3": "new", "4": "ISS-0001"}
    for row in rows:
        row["decision"] = decisions[row["ticket_id"]]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    result = apply_review(db, path, NOW)
    assert result.applied == 3
    assert db.tickets[2].issue_id == "ISS-0001"  # accept = take the suggestion
    assert db.tickets[4].issue_id == "ISS-0001"
    assert db.issues[db.tickets[3].issue_id].provisional is False  # new = confirm
    assert "ISS-0002" not in db.issues and "ISS-0005" not in db.issues  # emptied issues disappear
    assert db.flagged_pending() == []
    assert db.history[-1].action == "review"
    db.check_consistency()

    write_flagged_csv(path, db, tickets={})
    assert len(list(csv.DictReader(path.open()))) == 0
    # A new flagged decision later does not bring reviewed tickets back.
    apply(db, 7, answer(None, 0.1))
    write_flagged_csv(path, db, tickets={})
    assert [r["ticket_id"] for r in csv.DictReader(path.open())] == ["7"]


def test_rewritten_csv_keeps_pending_decisions(tmp_path):
    db = flagged_db()
    path = tmp_path / "f.csv"
    path.write_text("ticket_id,decision\n3,ISS-0001\n99,new\n")
    write_flagged_csv(path, db, tickets={})
    assert read_review_decisions(path) == {3: "ISS-0001"}


@pytest.mark.parametrize(("decision", "message"), [
    ("maybe", "decision 'maybe' is not accept, new or an issue id"),
    ("ISS-9999", "issue ISS-9999 does not exist"),
])
def test_bad_review_decisions_change_nothing(tmp_path, decision, message):
    db = flagged_db()
    before = db.to_dict()
    path = tmp_path / "f.csv"
    path.write_text(f"ticket_id,decision\n2,accept\n3,{decision}\n")
    with pytest.raises(UsageError, match=message):
        apply_review(db, path, NOW)
    assert db.to_dict() == before
