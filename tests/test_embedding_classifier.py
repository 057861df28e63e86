"""The offline classifier: its decisions and flags, batch clustering at the end of a run, c-TF-IDF naming."""

from __future__ import annotations

import math

import numpy as np
import pytest

import batch_clustering
from batch_clustering import Group, group_tickets
from candidates import IssueIndex
from decider import FinishedRun
from embedding_classifier import (
    PLACEHOLDER_CATEGORY,
    EmbeddingClassifier,
    name_issues,
)
from issue_clusterer import IssueDB
from pipeline import ClassifyConfig, ClassifyLoop, prepare_ticket
from records import Answer, Outcome
from tests.fake_openai import hashed_embedding

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


def _run_offline(texts: list[str], db: IssueDB | None = None) -> tuple[IssueDB, ClassifyLoop]:
    """Texts through the real classify loop with the offline classifier and a bag-of-words embedder."""
    db = db or IssueDB(embedding_model="bag-of-words")
    conversations = {}
    for number, text in enumerate(texts, start=len(db.tickets) + 1):
        conversations[number] = {"ticket_id": number, "subject": "", "status": 4, "created_at": "",
                                 "updated_at": f"2026-01-{number % 28 + 1:02d}T00:00:00Z", "url": "",
                                 "messages": [{"speaker": "user", "text": text, "private": False,
                                               "incoming": True, "created_at": ""}]}
    decider = EmbeddingClassifier()
    index = IssueIndex(db, bag_of_words, 384, text_from_first_ticket=True, offers=decider.offers)
    index.build(None)
    loop = ClassifyLoop(db, index, decider, config=ClassifyConfig(), checkpoint=lambda _db: None)
    stats = loop.run(conversations.values())
    decider.finish(FinishedRun(db, index, stats, conversations.get, lambda: "2026-02-01T00:00:00Z"))
    return db, loop


def bag_of_words(texts) -> np.ndarray:
    return np.array([hashed_embedding(text) for text in texts], dtype=np.float32)


PASSWORD = ["password reset email never arrives", "password reset email never arrives today",
            "the password reset email never arrives", "password reset email never came"]
REFUND = ["refund for the double charge please", "please refund the double charge", "double charge refund"]


def test_a_run_clusters_its_unmatched_tickets_together_and_numbers_the_issues_in_order():
    db, loop = _run_offline([PASSWORD[0], REFUND[0], PASSWORD[1], REFUND[1], PASSWORD[2], "my parrot speaks"])
    assert sorted(db.issues) == ["ISS-0001", "ISS-0002", "ISS-0003"]  # consecutive, not one id per ticket
    assert db.issues["ISS-0001"].ticket_ids == [1, 3, 5]
    assert db.issues["ISS-0002"].ticket_ids == [2, 4]
    assert db.issues["ISS-0003"].ticket_ids == [6]
    assert db.next_issue_number == 4
    assert loop.stats.new_issue_ids == ["ISS-0001", "ISS-0002", "ISS-0003"] and loop.stats.issues_created == 3
    assert all(issue.category != PLACEHOLDER_CATEGORY for issue in db.issues.values())  # every issue named
    assert db.history == []  # the run's own interim issues are no merges anyone saw
    db.check_consistency()


def test_a_later_run_joins_earlier_issues_first_then_clusters_the_rest():
    db, _ = _run_offline([PASSWORD[0], PASSWORD[1], REFUND[0], REFUND[1]])
    db, loop = _run_offline([PASSWORD[3], REFUND[2], "parrot speaks french", "my parrot speaks french"], db)
    assert sorted(db.issues) == ["ISS-0001", "ISS-0002", "ISS-0003"]
    assert 5 in db.issues["ISS-0001"].ticket_ids and 6 in db.issues["ISS-0002"].ticket_ids
    assert db.issues["ISS-0003"].ticket_ids == [7, 8]
    assert loop.stats.new_issue_ids == ["ISS-0003"]
    assert loop.stats.grown == {"ISS-0001": 1, "ISS-0002": 1}


def test_batches_group_well_separated_tickets_as_one_batch_does():
    rng = np.random.default_rng(3)
    centres = np.eye(8)[:3]
    vectors = np.vstack([centres[i % 3] + 0.1 * rng.standard_normal(8) for i in range(30)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    whole = group_tickets(vectors, [])
    assert whole == [i % 3 for i in range(30)]
    assert group_tickets(vectors, [], batch=7) == whole  # later batches join the groups of earlier ones
    known = [Group("ISS-0009", centres[1] * 4, 4)]
    assert group_tickets(vectors, known)[:3] == [1, 0, 2]  # a known group keeps index 0


def test_smoothing_moves_an_edge_ticket_to_where_its_neighbours_are_and_leaves_a_loner_alone():
    big = [[1.0, 0.0, 0.02 * i, 0.0] for i in range(6)]
    small = [[0.0, 1.0, 0.0, 0.0], [0.05, 1.0, 0.0, 0.0]]
    edge = [[0.8, 0.5, 0.0, 0.0]]
    loner = [[0.0, 0.0, 0.0, 1.0]]
    vectors = np.array(big + small + edge + loner)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.array([0] * 6 + [1, 1] + [1] + [2])  # the edge ticket chained into the small group
    smoothed = batch_clustering._smooth(vectors, labels)
    assert smoothed[8] == 0  # four of its five nearest are in the large group
    assert list(smoothed[:8]) == [0] * 6 + [1, 1] and smoothed[9] == 2  # no neighbour close enough to vote


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
