"""Similar-ticket lookup: ranking, provisional issues left out, the ticket itself left out, CLI text and JSON,
no writes but the embedding cache, the real local embedder, and the work per lookup (counted, not timed: the
seconds are `python -m bench`'s, docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import main
from bench.lookup_bench import HashingEmbedder, lookup_time_benchmark
from conversation_utils import ConversationStore
from embeddings import EmbeddingCache, LocalEmbedder
from issue_clusterer import IssueDB
from lookup import format_lookup, lookup
from records import Answer, Outcome
from tests.fake_openai import FakeOpenAI

TOPICS = {
    "Password reset link expired": "password reset link expired login page token",
    "Invoice VAT rate wrong": "invoice vat rate wrong billing country germany",
    "CSV export timeout": "csv export timeout gateway contacts rows background",
}
STAMP = "2026-02-02T10:00:00Z"


def build_desk(root: Path, model_id: str) -> dict[str, list[int]]:
    """Four tickets per topic in confirmed issues, plus a provisional issue about passwords."""
    store = ConversationStore(root / "conversations")
    db = IssueDB(embedding_model=model_id)
    members: dict[str, list[int]] = {}
    ticket_id = 100
    for category, words in TOPICS.items():
        issue_id = None
        for n in range(4):
            ticket_id += 1
            text = f"{words} case {n}"
            store.save({"ticket_id": ticket_id, "subject": f"{category} ({n})", "status": 4, "created_at": STAMP,
                        "updated_at": STAMP, "url": f"https://acme.freshdesk.com/a/tickets/{ticket_id}",
                        "messages": [{"speaker": "user", "text": text, "private": False, "incoming": True,
                                      "created_at": STAMP}]}, {"ticket": {"id": ticket_id}})
            answer = Answer(issue_id, category, words.split()[:3], f"Root cause of {category}.",
                            [f"Step one for {category}.", "Step two."], 0.95)
            issue_id = db.apply(Outcome(ticket_id, answer), threshold=0.7, updated_at=STAMP, now=STAMP).issue_id
            members.setdefault(issue_id, []).append(ticket_id)
    provisional = Answer(None, "Password reset link expired again", ["password"], "unsure", [], 0.3)
    members["provisional"] = [db.apply(Outcome(999, provisional), threshold=0.7, updated_at=STAMP,
                                       now=STAMP).issue_id]
    db.save(root / "output" / "silo_issues_db.json")
    return members


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".cache" not in p.parts}


def test_nearest_issues_and_tickets_from_cached_vectors(tmp_path):
    members = build_desk(tmp_path, "hashing-bench")
    store = ConversationStore(tmp_path / "conversations")
    db_path = tmp_path / "output" / "silo_issues_db.json"
    cache = EmbeddingCache(tmp_path / "cache", HashingEmbedder())
    result = lookup(db_path, store, cache, text="the invoice has the wrong vat rate for germany")
    billing = next(i for i, t in members.items() if t[0] in range(105, 109))
    assert result["issues"][0]["issue_id"] == billing
    assert result["issues"][0]["root_cause"] == "Root cause of Invoice VAT rate wrong."
    assert result["issues"][0]["resolution_steps"][0] == "Step one for Invoice VAT rate wrong."
    assert members["provisional"][0] not in {i["issue_id"] for i in result["issues"]}
    assert len(result["issues"]) == 3  # all confirmed issues, fewer than 5
    assert [t["issue_id"] for t in result["tickets"]] == [billing] * 3
    assert result["tickets"][0]["url"].startswith("https://acme.freshdesk.com/a/tickets/10")
    scores = [i["similarity"] for i in result["issues"]]
    assert scores == sorted(scores, reverse=True)

    # A second lookup embeds only its query; a stored ticket never finds itself.
    cache = EmbeddingCache(tmp_path / "cache", HashingEmbedder())
    again = lookup(db_path, store, cache, ticket_id=106)
    assert cache.misses == 0
    assert 106 not in [t["ticket_id"] for t in again["tickets"]]
    assert again["issues"][0]["issue_id"] == billing
    text = format_lookup(again)
    assert "Root cause: Root cause of Invoice VAT rate wrong." in text
    assert "https://acme.freshdesk.com/a/tickets/10" in text


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_json_and_text_with_a_remote_embedder_write_nothing(offline_env, capsys, monkeypatch):
    with FakeOpenAI() as fake:
        monkeypatch.setenv("EMBEDDING_API_BASE_URL", fake.base_url)
        monkeypatch.setenv("EMBEDDING_MODEL", "fake-embed")
        members = build_desk(offline_env, "fake-embed")
        before = snapshot(offline_env)
        assert main.main(["--similar", "password reset link expired on the login page", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        password = next(i for i, t in members.items() if t[0] in range(101, 105))
        assert result["issues"][0]["issue_id"] == password
        assert all(t["issue_id"] == password for t in result["tickets"])
        assert fake.calls == 0 and fake.embedding_calls >= 1
        calls = fake.embedding_calls

        assert main.main(["--similar-to", "110"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("Nearest confirmed issues to ticket 110: CSV export timeout")
        assert "Root cause: Root cause of CSV export timeout." in out and "1) Step one for CSV" in out
        assert "#110 " not in out
        assert fake.embedding_calls == calls  # everything was cached
        assert snapshot(offline_env) == before

        assert main.main(["--similar-to", "4242"]) == 2
        assert "--ticket-ids 4242 --fetch-only" in capsys.readouterr().err
        assert main.main(["--similar", "x", "--output", "output/none.json"]) == 2
        assert "does not exist" in capsys.readouterr().err


def test_cli_with_the_local_model(offline_env, capsys):
    members = build_desk(offline_env, LocalEmbedder.model_id)
    assert main.main(["--similar", "We were billed with the wrong VAT percentage", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    billing = next(i for i, t in members.items() if t[0] in range(105, 109))
    assert result["issues"][0]["issue_id"] == billing
    assert result["tickets"][0]["issue_id"] == billing


@pytest.mark.slow
def test_a_lookup_on_a_cached_desk_embeds_only_its_query(tmp_path):
    # Embedding is what makes a lookup slow (10,000 tickets: 0.57 s warm with everything cached, minutes
    # without): every ticket and issue vector comes from the cache, only the pasted text is embedded.
    timing = lookup_time_benchmark(tmp_path, n_tickets=600, n_issues=40, repeats=3)
    assert timing["tickets"] == 600 and timing["embedded_per_lookup"] == 1
