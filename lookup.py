"""Similar-ticket lookup for triage: the nearest confirmed issues and past tickets to a text or a ticket.

Everything comes from disk: the issue DB, `conversations/` and the embedding cache. Issues are
scored as the classifier's candidate index scores them (issue text plus member tickets), and issues
and tickets sit in one matrix, so a lookup is one matrix product.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conversation_utils import ConversationStore, problem_statement
from embeddings import DEFAULT_TEXT_WEIGHT, EmbeddingCache, normalize_rows
from errors import UsageError
from issue_clusterer import IssueDB, check_embedding_model
from records import JSONObject

log = logging.getLogger(__name__)

ISSUES_SHOWN = 5
TICKETS_SHOWN = 3
QUERY_CHARS = 1500  # the window problem_statement gives a ticket, so a pasted text and a ticket compare alike


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
    for ticket_id in sorted(db.tickets):
        conversation = store.get(ticket_id)
        if conversation is None:
            continue
        ticket_ids.append(ticket_id)
        texts.append(problem_statement(conversation))
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


def nearest(index: LookupIndex, vector: np.ndarray, *, exclude_ticket: int | None = None,
            issues: int = ISSUES_SHOWN, tickets: int = TICKETS_SHOWN) -> JSONObject:
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
           text: str | None = None, ticket_id: int | None = None) -> JSONObject:
    """Look up a pasted text or a stored ticket against the DB at `db_path` (which the caller checked exists)."""
    if (text is None) == (ticket_id is None):
        raise ValueError("give exactly one of text and ticket_id")
    db = IssueDB.load(db_path)
    check_embedding_model(db, db_path, embedder.model_id)
    if ticket_id is not None:
        try:
            conversation = store.load(ticket_id)
        except FileNotFoundError:
            raise UsageError(
                f"ticket {ticket_id} is not in {store.root}: fetch it first with "
                f"python -m main --ticket-ids {ticket_id} --fetch-only"
            ) from None
        query_text = problem_statement(conversation)
        query: JSONObject = {"ticket_id": ticket_id, "subject": conversation["subject"]}
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


def format_lookup(result: JSONObject) -> str:
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
