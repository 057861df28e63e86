"""The classify loop's recheck: a ticket answered "new issue" while an earlier ticket started a close one.

Two tickets are in flight together (`concurrency=2`), so the second is answered before the first has started
its issue. The model is the real LLMClassifier over HTTP against the fake OpenAI server; the embedder is a
bag of words (texts sharing words are similar), so the similarities below follow from the words chosen.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from candidates import IssueIndex
from issue_clusterer import IssueDB
from llm_classifier import LLMClassifier
from llm_client import LLMClient
from pipeline import ClassifyConfig, ClassifyLoop
from prompts_config import RECHECK_SYSTEM_PROMPT
from records import Answer, Outcome
from tests.fake_openai import FakeOpenAI, candidates_in, hashed_embedding

NOW = "2026-11-01T00:00:00Z"
KNOWN = "Printer paper jam tray"


def embed(texts: list[str]) -> np.ndarray:
    return np.array([hashed_embedding(text) for text in texts], dtype=np.float32)


def conversation(ticket_id: int, subject: str) -> dict:
    return {"ticket_id": ticket_id, "subject": subject, "status": 4, "created_at": NOW, "updated_at": NOW,
            "url": "", "messages": [{"speaker": "user", "text": subject.lower(), "private": False,
                                     "incoming": True, "created_at": NOW}]}


class Model:
    """Names the candidate whose category is the ticket's subject, else starts a new issue named by it."""

    def __init__(self, recheck_reply: str | None = None) -> None:
        self.recheck_reply = recheck_reply
        self.rechecks: list[list[str]] = []

    def __call__(self, request: dict) -> str:
        subject = re.search(r"Subject: (.*)", request["messages"][1]["content"]).group(1).strip()
        candidates = candidates_in(request)
        known = [c["issue_id"] for c in candidates if c["category"] == subject]
        if request["messages"][0]["content"] == RECHECK_SYSTEM_PROMPT:
            self.rechecks.append([c["issue_id"] for c in candidates])
            if self.recheck_reply is not None:
                return self.recheck_reply
            return json.dumps({"issue_id": known[0] if known else None, "confidence": 0.9, "notes": "recheck"})
        return json.dumps({"issue_id": known[0] if known else None, "category": subject, "keywords": [],
                           "root_cause": "", "resolution_steps": ["fix it"], "confidence": 0.9, "notes": ""})


def run_two(first_subject: str, second_subject: str, model: Model) -> tuple[IssueDB, IssueIndex, ClassifyLoop]:
    """A DB with one known issue, then two tickets classified side by side."""
    db = IssueDB(embedding_model="bag-of-words")
    db.apply(Outcome(1, Answer(None, KNOWN, [], "", ["fix"], 0.95)), threshold=0.7, updated_at=NOW, now=NOW)
    index = IssueIndex(db, embed, 384)
    index.build(None)
    # Slow answers keep both tickets in flight before the first is applied.
    with FakeOpenAI(responder=model, latency=0.2) as server:
        client = LLMClient(server.base_url, "key", "fake-model", sleep=lambda seconds: None)
        decider = LLMClassifier(client, threshold=0.7, concurrency=2)
        classifier = ClassifyLoop(db, index, decider, config=ClassifyConfig(), checkpoint=lambda db: None)
        classifier.run([conversation(2, first_subject), conversation(3, second_subject)])
    return db, index, classifier


def test_a_ticket_that_missed_an_issue_started_meanwhile_is_rechecked_against_it_alone():
    model = Model()
    db, _, classifier = run_two("Printer paper jam tray stuck", "Printer paper jam tray stuck", model)

    started = db.tickets[2].issue_id
    assert started != "ISS-0001"
    assert model.rechecks == [[started]]
    assert db.tickets[3].issue_id == started
    assert classifier.stats.reasked == 1 and classifier.stats.model_calls == 3


def test_an_issue_farther_than_the_candidate_turned_down_is_not_rechecked():
    model = Model()
    db, index, classifier = run_two("Printer paper offline status", "Printer paper jam tray stuck", model)

    started = db.tickets[2].issue_id
    vector = embed(["Printer paper jam tray stuck\n\nprinter paper jam tray stuck"])[0]
    near = index.similarity_to(vector, ["ISS-0001", started])
    # Near enough to have been offered (the floor of a young DB), but farther than the known issue the
    # model turned down, by the ticket's vector and by the model's description alike.
    assert 0.35 <= near[started] < near["ISS-0001"]
    described = index.description_similarity(Answer(None, "Printer paper jam tray stuck", [], "", [], 0.9),
                                             ["ISS-0001", started])
    assert described[started] < described["ISS-0001"]
    assert model.rechecks == []
    assert db.tickets[3].issue_id not in ("ISS-0001", started)
    assert classifier.stats.reasked == 0 and classifier.stats.model_calls == 2


@pytest.mark.parametrize("reply", ["not json at all", json.dumps({"issue_id": "ISS-9999", "confidence": 0.9})])
def test_a_failed_recheck_keeps_the_first_answer_and_flags_it(reply):
    model = Model(recheck_reply=reply)
    db, _, classifier = run_two("Printer paper jam tray stuck", "Printer paper jam tray stuck", model)

    record = db.tickets[3]
    assert record.issue_id not in ("ISS-0001", db.tickets[2].issue_id)
    assert record.flagged
    assert record.reason.startswith("not checked against the issues started meanwhile: invalid model answer")
    assert len(model.rechecks) == 3  # the recheck and its two corrections
    assert classifier.stats.model_calls == 5
