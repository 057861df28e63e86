"""Similar-ticket lookup for triage: the nearest confirmed issues and past tickets to a text or a ticket.

Everything comes from disk: the issue DB, `conversations/` and the embedding cache. Issues are
scored as the classifier's candidate index scores them (issue text plus member tickets), and issues
and tickets sit in one matrix, so a lookup is one matrix product.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conversation_utils import ConversationStore, customer_text
from embeddings import DEFAULT_TEXT_WEIGHT, EmbeddingCache, normalize_rows
from errors import UsageError
from issue_clusterer import IssueDB

log = logging.getLogger(__name__)

ISSUES_SHOWN = 5
TICKETS_SHOWN = 3
_FIELDS = {"ticket_id", "subject", "url", "messages"}
QUERY_CHARS = 1500  # the window customer_text gives a ticket, so a pasted text and a ticket compare alike


@dataclass
class LookupIndex:
    """Confirmed issues' rows then tickets' rows of one unit-vector matrix, with what to show for each."""

    db: IssueDB
    issue_ids: list[str]
    ticket_ids: list[int]
    matrix: np.ndarray
    subjects: dict[int, str]
    urls: dict[int, str]


def build_index(db: IssueDB, store: ConversationStore, embedder: EmbeddingCache) -> LookupIndex:
    """Vectors for every decided ticket found in `store` and every confirmed issue (cached, else embedded)."""
    ticket_ids: list[int] = []
    texts: list[str] = []
    subjects: dict[int, str] = {}
    urls: dict[int, str] = {}
    for ticket_id, conversation in _stored(store, sorted(db.tickets)):
        ticket_ids.append(ticket_id)
        texts.append(customer_text(conversation))
        subjects[ticket_id] = conversation["subject"]
        urls[ticket_id] = conversation.get("url") or ""
    issues = db.confirmed_issues()
    vectors = embedder.embed(texts + [issue.text() for issue in issues])
    ticket_vectors = normalize_rows(vectors[: len(ticket_ids)])
    text_vectors = normalize_rows(vectors[len(ticket_ids):])
    # An issue's row is its text vector (weighted as the candidate index weighs it) plus its members'.
    row_of = {ticket_id: row for row, ticket_id in enumerate(ticket_ids)}
    sums = DEFAULT_TEXT_WEIGHT * text_vectors.astype(np.float64)
    for position, issue in enumerate(issues):
        rows = [row_of[t] for t in issue.ticket_ids if t in row_of]
        if rows:
            sums[position] += ticket_vectors[rows].sum(axis=0)
    matrix = np.vstack([normalize_rows(sums), ticket_vectors]) if len(vectors) else np.zeros((0, embedder.dim))
    return LookupIndex(db, [i.issue_id for i in issues], ticket_ids, matrix.astype(np.float32), subjects, urls)


def _stored(store: ConversationStore, ticket_ids: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The readable conversations among `ticket_ids`; a lean read, as 10,000 files must load in a blink."""
    root = str(store.root)
    for ticket_id in ticket_ids:
        try:
            with open(os.path.join(root, f"{ticket_id}.json"), "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("ticket_id") == ticket_id and data.keys() >= _FIELDS:
            yield ticket_id, data


def nearest(index: LookupIndex, vector: np.ndarray, *, exclude_ticket: int | None = None,
            issues: int = ISSUES_SHOWN, tickets: int = TICKETS_SHOWN) -> dict[str, Any]:
    """The nearest confirmed issues and past tickets to `vector`, best first, as JSON-ready dicts."""
    query = normalize_rows(np.asarray(vector).reshape(1, -1))[0]
    scores = index.matrix @ query if len(index.matrix) else np.zeros(0, np.float32)
    split = len(index.issue_ids)
    issue_scores, ticket_scores = scores[:split], scores[split:].copy()
    if exclude_ticket is not None and exclude_ticket in index.subjects:
        ticket_scores[index.ticket_ids.index(exclude_ticket)] = -np.inf
    result_issues = []
    for row in _top(issue_scores, issues):
        issue = index.db.issues[index.issue_ids[row]]
        result_issues.append({
            "issue_id": issue.issue_id,
            "similarity": round(float(issue_scores[row]), 4),
            "category": issue.category,
            "keywords": list(issue.keywords),
            "root_cause": issue.root_cause,
            "resolution_steps": list(issue.resolution_steps),
            "tickets": len(issue.ticket_ids),
            "last_seen": issue.last_seen,
        })
    result_tickets = []
    for row in _top(ticket_scores, tickets):
        ticket_id = index.ticket_ids[row]
        issue_id = index.db.tickets[ticket_id].issue_id
        result_tickets.append({
            "ticket_id": ticket_id,
            "similarity": round(float(ticket_scores[row]), 4),
            "subject": index.subjects[ticket_id],
            "url": index.urls[ticket_id],
            "issue_id": issue_id,
            "category": index.db.issues[issue_id].category,
        })
    return {"issues": result_issues, "tickets": result_tickets}


def _top(scores: np.ndarray, k: int) -> list[int]:
    order = np.lexsort((np.arange(len(scores)), -scores))  # ties go to the lower row
    return [int(i) for i in order[:k] if np.isfinite(scores[i])]


def lookup(db_path: Path, store: ConversationStore, embedder: EmbeddingCache, *,
           text: str | None = None, ticket_id: int | None = None) -> dict[str, Any]:
    """Look up a pasted text or a stored ticket against the DB at `db_path`."""
    if (text is None) == (ticket_id is None):
        raise ValueError("give exactly one of text and ticket_id")
    if not Path(db_path).exists():
        raise UsageError(f"{db_path} does not exist: run the tool first, or pass the DB with --output")
    db = IssueDB.load(db_path)
    if db.embedding_model and db.embedding_model != embedder.model_id:
        raise UsageError(
            f"{db_path} was built with embeddings from {db.embedding_model}, not {embedder.model_id}: "
            "use the embedding settings the DB was built with"
        )
    if ticket_id is not None:
        try:
            conversation = store.load(ticket_id)
        except FileNotFoundError:
            raise UsageError(
                f"ticket {ticket_id} is not in {store.root}: fetch it first with "
                f"python -m main --ticket-ids {ticket_id} --fetch-only"
            ) from None
        query_text = customer_text(conversation)
        query: dict[str, Any] = {"ticket_id": ticket_id, "subject": conversation["subject"]}
    else:
        query_text = " ".join(str(text).split())[:QUERY_CHARS]
        if not query_text:
            raise UsageError("--similar needs some text: describe the ticket, e.g. --similar 'cannot log in'")
        query = {"text": query_text}
    index = build_index(db, store, embedder)
    # Only ticket and issue vectors are kept; a pasted text is not worth a cache record.
    embedder.flush()
    vector = embedder.embed([query_text])[0]
    return {"query": query, **nearest(index, vector, exclude_ticket=ticket_id)}


def format_lookup(result: dict[str, Any]) -> str:
    """The lookup for people: issues with root cause and steps, then past tickets with links."""
    query = result["query"]
    title = f"ticket {query['ticket_id']}: {query['subject']}" if "ticket_id" in query else repr(query["text"][:80])
    lines = [f"Nearest confirmed issues to {title}"]
    if not result["issues"]:
        lines.append("  (none: the DB has no confirmed issues yet)")
    for number, issue in enumerate(result["issues"], start=1):
        lines.append(f"{number}. {issue['issue_id']}  similarity {issue['similarity']:.2f}  "
                     f"{issue['category']}  ({issue['tickets']} ticket{'' if issue['tickets'] == 1 else 's'})")
        if issue["root_cause"]:
            lines.append(f"   Root cause: {issue['root_cause']}")
        for step_number, step in enumerate(issue["resolution_steps"], start=1):
            lines.append(f"   {step_number}) {step}")
    lines.append("Nearest past tickets")
    if not result["tickets"]:
        lines.append("  (none: no decided ticket has a conversation in conversations/)")
    for number, ticket in enumerate(result["tickets"], start=1):
        link = f"  {ticket['url']}" if ticket["url"] else ""
        lines.append(f"{number}. #{ticket['ticket_id']}  similarity {ticket['similarity']:.2f}  "
                     f"{ticket['subject']}  [{ticket['issue_id']}]{link}")
    return "\n".join(lines)


# ---- benchmark support ----------------------------------------------------------------------------


class HashingEmbedder:
    """A deterministic bag-of-words embedder: fills a benchmark's cache without running a model."""

    def __init__(self, dim: int = 384, model_id: str = "hashing-bench") -> None:
        self.dim = dim
        self.model_id = model_id

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
        return normalize_rows(out)


def write_benchmark_desk(root: Path, n_tickets: int, n_issues: int, embedder: Any, seed: int = 0) -> Path:
    """A DB of `n_tickets` tickets in `n_issues` issues with their conversations and cached vectors."""
    from pipeline import now_iso
    from records import Answer, Outcome

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
                          embedder: Any | None = None, seed: int = 0) -> dict[str, Any]:
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
