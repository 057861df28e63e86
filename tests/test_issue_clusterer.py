"""The issue DB: SPEC's decision table, deterministic writes, review moves and merge."""

from __future__ import annotations

import json

import pytest

from errors import DatabaseError, UsageError
from issue_clusterer import IssueDB, SideFiles, load_for_run, rank_keywords
from records import Answer, Outcome

NOW = "2026-11-21T10:00:00Z"


def answer(issue_id=None, confidence=0.9, category="Login", keywords=("password",), root_cause="rc"):
    return Answer(issue_id, category, list(keywords), root_cause, ["step 1"], confidence, "")


def apply(db, ticket_id, ans, *, updated="2026-11-01T00:00:00Z", reason="", flag_reason="", threshold=0.7):
    outcome = Outcome(ticket_id=ticket_id, answer=ans, reason=reason, flag_reason=flag_reason)
    return db.apply(outcome, threshold=threshold, updated_at=updated, now=NOW)


def test_decision_table_follows_spec():
    db = IssueDB(embedding_model="m")
    first = apply(db, 1, answer(None, 0.9))
    assert (first.issue_id, first.created, first.flagged, first.provisional) == ("ISS-0001", True, False, False)

    joined = apply(db, 2, answer("ISS-0001", 0.8, category="Other name", keywords=("reset", "password")))
    assert (joined.issue_id, joined.created, joined.flagged) == ("ISS-0001", False, False)
    assert db.issues["ISS-0001"].category == "Login"  # names stay stable when a ticket joins
    assert db.issues["ISS-0001"].keywords == ["password", "reset"]

    low = apply(db, 3, answer("ISS-0001", 0.5, category="Maybe login"))
    assert (low.issue_id, low.created, low.flagged, low.provisional) == ("ISS-0002", True, True, True)
    assert db.tickets[3].suggested_issue_id == "ISS-0001"
    assert db.tickets[3].reason == "confidence 0.50 below threshold 0.70"
    assert db.issues["ISS-0002"].category == "Maybe login"

    low_new = apply(db, 4, answer(None, 0.3))
    assert low_new.provisional and low_new.flagged and db.tickets[4].suggested_issue_id == ""

    invalid = apply(db, 5, None, reason="answer is not JSON: Expecting value")
    assert invalid.provisional and invalid.flagged
    assert db.issues[invalid.issue_id].category == "Unclassified"
    assert db.tickets[5].reason == "answer is not JSON: Expecting value"
    assert db.tickets[5].answer is None
    assert db.flagged_pending() == [3, 4, 5]


def test_confidence_exactly_at_threshold_is_not_flagged():
    db = IssueDB(embedding_model="m")
    assert not apply(db, 1, answer(None, 0.7)).flagged


def test_offline_outcomes_are_confirmed_and_flag_only_near_threshold():
    db = IssueDB(embedding_model="m")
    # No model confidence offline: no threshold, so nothing becomes provisional.
    applied = apply(db, 1, answer(None, 0.2), flag_reason="similarity 0.52 within 0.05 of 0.55", threshold=None)
    assert applied.flagged and not applied.provisional
    assert db.tickets[1].reason == "similarity 0.52 within 0.05 of 0.55"


def test_keywords_are_union_ranked_by_frequency_capped_at_ten():
    ranked = rank_keywords(["a"], [["a", "b"], ["b", "c"], ["B", "d"]] + [[f"k{i}"] for i in range(12)])
    assert ranked[:2] == ["b", "a"]
    assert len(ranked) == 10


def test_save_is_deterministic_and_round_trips(tmp_path):
    db = IssueDB(embedding_model="m")
    for ticket_id in (5, 3, 9):
        apply(db, ticket_id, answer(None if ticket_id == 5 else "ISS-0001", 0.9))
    path = tmp_path / "db.json"
    db.save(path)
    first = path.read_bytes()
    IssueDB.load(path).save(path)
    assert path.read_bytes() == first
    data = json.loads(first)
    assert data["issues"][0]["ticket_ids"] == [3, 5, 9]
    assert list(data["tickets"]) == ["3", "5", "9"]
    assert data["next_issue_number"] == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read the issue DB"),
        ('{"schema_version": 99}', "not in the expected format (schema_version 99, expected 1)"),
        (b"\xff\xfe\x00garbage", "cannot read the issue DB"),
    ],
)
def test_unreadable_db_is_refused_and_left_alone(tmp_path, content, message):
    path = tmp_path / "silo_issues_db.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = path.read_bytes()
    with pytest.raises(DatabaseError) as raised:
        load_for_run(SideFiles.for_db(path), "m")
    assert message in str(raised.value)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == before


def test_checkpoint_wins_over_db_when_present(tmp_path):
    files = SideFiles.for_db(tmp_path / "silo_issues_db.json")
    db = IssueDB(embedding_model="m")
    db.save(files.db)
    apply(db, 1, answer())
    db.save(files.checkpoint)
    loaded, resumed = load_for_run(files, "m")
    assert resumed and 1 in loaded.tickets


def test_inconsistent_db_is_refused(tmp_path):
    db = IssueDB(embedding_model="m")
    apply(db, 1, answer())
    data = db.to_dict()
    data["tickets"]["1"]["issue_id"] = "ISS-0042"
    path = tmp_path / "db.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DatabaseError, match="ticket 1 says ISS-0042"):
        IssueDB.load(path)


def test_side_file_names_follow_spec(tmp_path):
    default = SideFiles.for_db(tmp_path / "silo_issues_db.json")
    assert [p.name for p in (default.checkpoint, default.flagged_csv, default.report)] == [
        "silo_issues_db.tmp.json", "flagged_for_review.csv", "report.html"]
    seed = SideFiles.for_db(tmp_path / "seed.json")
    assert [p.name for p in (seed.checkpoint, seed.flagged_csv, seed.report)] == [
        "seed.tmp.json", "seed.flagged_for_review.csv", "seed.report.html"]


def test_merge_moves_tickets_and_logs_history():
    db = IssueDB(embedding_model="m")
    apply(db, 1, answer(None, 0.9, category="A"))
    apply(db, 2, answer(None, 0.9, category="B"))
    db.merge("ISS-0001", "ISS-0002", NOW)
    assert db.issues["ISS-0001"].ticket_ids == [1, 2]
    assert "ISS-0002" not in db.issues and db.tickets[2].issue_id == "ISS-0001"
    assert db.history[-1].details == {"kept": "ISS-0001", "merged": "ISS-0002", "ticket_ids": [2]}
    with pytest.raises(UsageError, match="issue ISS-0002 does not exist"):
        db.merge("ISS-0001", "ISS-0002", NOW)


def test_remove_ticket_for_reclassify_drops_emptied_issue():
    db = IssueDB(embedding_model="m")
    apply(db, 1, answer(None, 0.9))
    assert db.remove_ticket(1, NOW) == "ISS-0001"
    assert db.issues == {} and db.tickets == {}


@pytest.mark.parametrize("which", ["db", "checkpoint"])
def test_db_or_checkpoint_from_another_embedding_model_is_refused(tmp_path, which):
    files = SideFiles.for_db(tmp_path / "silo_issues_db.json")
    IssueDB(embedding_model="other-model").save(getattr(files, which))
    with pytest.raises(UsageError, match=f"{getattr(files, which)} was built with embeddings from other-model"):
        load_for_run(files, "m")


def test_db_embedded_by_whole_threads_is_taken_and_marked_for_re_embedding(tmp_path, caplog):
    files = SideFiles.for_db(tmp_path / "silo_issues_db.json")
    old = IssueDB(embedding_model="m")
    apply(old, 1, answer())
    data = old.to_dict()
    del data["embedding_text"]  # written before vectors stood for the problem statement
    files.db.write_text(json.dumps(data))
    with caplog.at_level("INFO"):
        db, resumed = load_for_run(files, "m")
    assert not resumed and db.tickets.keys() == {1}
    assert db.embedding_text == "problem-statement"
    assert [r.getMessage() for r in caplog.records] == [
        f"{files.db} was embedded by whole threads; re-embedding its tickets by problem-statement"]
