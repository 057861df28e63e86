"""The offline classifier's decisions and flags, tiny-issue folding, and c-TF-IDF naming."""

from __future__ import annotations

import math

import numpy as np
import pytest

from candidates import IssueIndex
from embedding_classifier import (
    PLACEHOLDER_CATEGORY,
    EmbeddingClassifier,
    name_issues,
    plan_small_issue_folds,
)
from issue_clusterer import IssueDB
from pipeline import prepare_ticket
from records import Answer, Outcome

DIM = 4


def at_similarity(cos: float) -> np.ndarray:
    """A unit vector whose cosine to e1 is exactly `cos`."""
    return np.array([cos, math.sqrt(1 - cos * cos), 0.0, 0.0], dtype=np.float32)


def decide(cos: float, *, issue: bool = True, provisional: bool = False, margin: float = 0.05) -> Outcome:
    """The offline decision for a ticket at cosine `cos` to the DB's one issue (whose vector is e1)."""
    db = IssueDB(embedding_model="m")
    if issue:
        db.apply(Outcome(100, Answer(None, "Known", [], "", [], 0.9)), threshold=None, updated_at="", now="")
        db.issues["ISS-0001"].provisional = provisional
    index = IssueIndex(db, lambda texts: np.tile(np.eye(DIM, dtype=np.float32)[0], (len(texts), 1)), DIM)
    index.build(None)
    conversation = {"ticket_id": 7, "subject": "", "status": 4, "created_at": "", "updated_at": "", "url": "",
                    "messages": []}
    return EmbeddingClassifier(0.6, review_margin=margin).decide(prepare_ticket(index, conversation,
                                                                                at_similarity(cos)))


def test_first_ticket_starts_a_new_issue_unflagged():
    outcome = decide(0.9, issue=False)
    assert outcome.ticket_id == 7
    assert outcome.answer.issue_id is None and outcome.answer.category == PLACEHOLDER_CATEGORY
    assert outcome.flag_reason == ""


@pytest.mark.parametrize(
    ("cos", "joins", "flagged"),
    [(0.9, True, False), (0.63, True, True), (0.6, True, True), (0.57, False, True), (0.3, False, False)],
)
def test_threshold_and_review_margin(cos, joins, flagged):
    outcome = decide(cos)
    assert (outcome.answer.issue_id == "ISS-0001") is joins
    assert bool(outcome.flag_reason) is flagged
    assert 0.0 <= outcome.answer.confidence <= 1.0
    if joins:
        assert outcome.answer.confidence == pytest.approx(cos, abs=1e-3)
    if flagged:
        assert f"similarity {cos:.2f} within 0.05 of threshold 0.60" in outcome.flag_reason


def test_provisional_issues_are_never_joined():
    outcome = decide(0.99, provisional=True)
    assert outcome.answer.issue_id is None


def test_bad_threshold_is_rejected():
    with pytest.raises(ValueError):
        EmbeddingClassifier(1.5)


def test_fold_plan_folds_small_into_nearest_large_only_when_close():
    rng = np.random.default_rng(1)

    def around(axis: int, n: int) -> np.ndarray:
        return np.eye(DIM)[axis] + 0.05 * rng.standard_normal((n, DIM))

    members = {
        "ISS-0001": around(0, 6),
        "ISS-0002": around(1, 5),
        "ISS-0003": around(0, 2),  # small, near ISS-0001
        "ISS-0004": around(3, 1),  # small, near nothing
        "ISS-0005": around(1, 1),  # small, near ISS-0002
    }
    assert plan_small_issue_folds(members, max_size=3, min_similarity=0.5) == [
        ("ISS-0002", "ISS-0005"),
        ("ISS-0001", "ISS-0003"),
    ]
    assert plan_small_issue_folds(members, foldable=["ISS-0003"]) == [("ISS-0001", "ISS-0003")]
    assert plan_small_issue_folds({"ISS-0001": around(0, 2)}) == []


TEXTS = {
    "ISS-0001": [
        "I forgot my password and cannot log in",
        "Password reset email never arrives",
        "How do I reset my password? Login fails",
    ],
    "ISS-0002": [
        "I was charged twice, please refund",
        "Refund the double charge on my invoice",
        "Invoice shows a double charge",
    ],
    "ISS-0003": ["The app crashes when I upload a photo", "Upload crashes the app every time"],
}


def test_name_issues_picks_distinctive_words():
    names = name_issues(TEXTS)
    assert set(names) == set(TEXTS)
    category, keywords = names["ISS-0001"]
    assert "password" in category.lower()
    assert any("password" in k for k in keywords)
    assert any("charge" in k or "refund" in k for k in names["ISS-0002"][1])
    assert any("crash" in k or "upload" in k for k in names["ISS-0003"][1])
    # Stopwords and greetings never become keywords.
    for _, words in names.values():
        assert not {"the", "and", "please", "how", "i"} & {w for k in words for w in k.split()}


def test_name_issues_is_deterministic_and_capped():
    reordered = dict(reversed(list(TEXTS.items())))
    assert name_issues(TEXTS) == name_issues(reordered)
    many = {"A": [" ".join(f"word{i}" for i in range(40))] * 2, "B": ["other text entirely"]}
    assert len(name_issues(many, top_n=50)["A"][1]) == 10
    assert len(name_issues(many, top_n=3)["A"][1]) == 3


def test_name_issues_for_an_issue_without_words():
    assert name_issues({"A": ["the and of"], "B": []}) == {
        "A": (PLACEHOLDER_CATEGORY, []),
        "B": (PLACEHOLDER_CATEGORY, []),
    }
