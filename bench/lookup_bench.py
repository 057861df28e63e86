"""Lookup benchmark support: a deterministic embedder and a synthetic desk to time `--similar` against."""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clock import now_iso
from conversation_utils import ConversationStore
from embeddings import Embedder, EmbeddingCache, normalize_rows
from issue_clusterer import IssueDB
from lookup import build_index, lookup
from records import Answer, Outcome


class HashingEmbedder:
    """A deterministic bag-of-words embedder: fills a benchmark's cache without running a model."""

    def __init__(self, dim: int = 384, model_id: str = "hashing-bench") -> None:
        self.dim = dim
        self.model_id = model_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        return normalize_rows(out)


def write_benchmark_desk(root: Path, n_tickets: int, n_issues: int, embedder: Embedder, seed: int = 0) -> Path:
    """A DB of `n_tickets` tickets in `n_issues` issues with their conversations and cached vectors."""
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(2000)]
    topics = [rng.sample(words, 12) for _ in range(n_issues)]
    store = ConversationStore(root / "conversations")
    db = IssueDB(embedding_model=embedder.model_id)
    now = now_iso()
    issue_of: dict[int, str] = {}
    for ticket_id in range(1, n_tickets + 1):
        topic = rng.randrange(n_issues)
        body = " ".join(rng.sample(topics[topic], 8) + rng.sample(words, 8))
        stamp = f"2026-01-{1 + ticket_id % 28:02d}T10:00:00Z"
        store.save({"ticket_id": ticket_id, "subject": f"Topic {topic} ticket {ticket_id}", "status": 4,
                    "created_at": stamp, "updated_at": stamp, "url": f"https://acme.freshdesk.com/a/tickets/{ticket_id}",
                    "messages": [{"speaker": "user", "text": body, "private": False, "incoming": True,
                                  "created_at": stamp}]}, {"ticket": {"id": ticket_id}})
        answer = Answer(issue_of.get(topic), f"Topic {topic}", topics[topic][:4], f"cause {topic}", ["step"], 0.95)
        issue_of[topic] = db.apply(Outcome(ticket_id, answer), threshold=0.7, updated_at=stamp, now=now).issue_id
    db_path = root / "output" / "silo_issues_db.json"
    db.save(db_path)
    cache = EmbeddingCache(root / "cache", embedder)
    build_index(db, store, cache)
    cache.flush()
    return db_path


def lookup_time_benchmark(root: Path, n_tickets: int = 10_000, n_issues: int = 300, *, repeats: int = 3,
                          embedder: Embedder | None = None, seed: int = 0) -> dict[str, float | int]:
    """Build a desk of `n_tickets` under `root` (once), then time cold lookups from disk; seconds."""
    embedder = embedder or HashingEmbedder()
    db_path = root / "output" / "silo_issues_db.json"
    if not db_path.exists():
        write_benchmark_desk(root, n_tickets, n_issues, embedder, seed)
    store = ConversationStore(root / "conversations")
    timings = []
    misses = 0
    for _ in range(repeats):
        started = time.perf_counter()
        cache = EmbeddingCache(root / "cache", embedder)
        lookup(db_path, store, cache, text="w1 w2 w3 w4 w5 w6 w7 w8")
        timings.append(time.perf_counter() - started)
        misses = max(misses, cache.misses)
    # misses counts texts embedded during a lookup: 1 (the query) when the desk is fully cached.
    return {"tickets": n_tickets, "issues": n_issues, "best_seconds": min(timings),
            "median_seconds": sorted(timings)[len(timings) // 2], "embedded_per_lookup": misses}
