"""The candidate stage: the DB's issues as vectors kept in step with the DB, and the nearest issues to a ticket."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from conversation_utils import customer_text
from embeddings import CandidateIndex
from issue_clusterer import IssueDB, issue_text
from records import Answer, Candidate

if TYPE_CHECKING:
    from conversation_utils import ConversationStore

# The SPEC's "at most 15 confirmed issues" offered to the model.
TOP_K = 15

Embed = Callable[[Sequence[str]], np.ndarray]


class IssueIndex:
    """The candidate index kept in step with the DB's issues and their tickets' vectors."""

    def __init__(self, db: IssueDB, embed: Embed, dim: int, *, text_from_first_ticket: bool = False) -> None:
        self.db = db
        self.embed = embed
        # A classifier that names its issues only at the end of a run (offline) leaves a new issue
        # without words until then: its first ticket stands for it, since embedding a placeholder
        # name would pull all new issues together.
        self.text_from_first_ticket = text_from_first_ticket
        self._index = CandidateIndex(dim)
        self.ticket_vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._index)

    def build(self, store: ConversationStore | None) -> None:
        """Index every issue from its text and the vectors of its tickets found in the store."""
        issues = sorted(self.db.issues.values(), key=lambda i: i.issue_id)
        if not issues:
            return
        texts = self.embed([issue.text() for issue in issues])
        member_ids: list[int] = []
        member_texts: list[str] = []
        for issue in issues:
            for ticket_id in issue.ticket_ids:
                conversation = store.get(ticket_id) if store else None
                if conversation is not None:
                    member_ids.append(ticket_id)
                    member_texts.append(customer_text(conversation))
        vectors = self.embed(member_texts) if member_texts else np.zeros((0, texts.shape[1]), np.float32)
        self.ticket_vectors.update(zip(member_ids, vectors, strict=True))
        for issue, vector in zip(issues, texts, strict=True):
            self._index.add_issue(issue.issue_id, vector, issue.provisional)
            for ticket_id in issue.ticket_ids:
                if ticket_id in self.ticket_vectors:
                    self._index.add_member(issue.issue_id, self.ticket_vectors[ticket_id])

    def candidates(self, vector: np.ndarray, k: int = TOP_K) -> list[Candidate]:
        """The k confirmed issues nearest to a ticket's vector, best first."""
        return [self.db.issues[issue_id].as_candidate(similarity)
                for issue_id, similarity in self._index.top_k(vector, k)]

    def similarity_to(self, vector: np.ndarray, issue_ids: list[str]) -> dict[str, float]:
        """Similarity of `vector` to the given issues as the index scores them."""
        wanted = set(issue_ids)
        return {i: s for i, s in self._index.top_k(vector, len(self._index)) if i in wanted}

    def description_similarity(self, answer: Answer, issue_ids: list[str]) -> dict[str, float]:
        """Similarity of a model answer's description to the given issues' descriptions."""
        vector = self.embed([issue_text(answer.category, answer.keywords, answer.root_cause)])[0]
        return self._index.text_similarity(vector, issue_ids)

    def member_vectors(self) -> dict[str, np.ndarray]:
        """Each issue's ticket vectors as a matrix (issues whose tickets have no vector are left out)."""
        result = {}
        for issue_id, issue in self.db.issues.items():
            rows = [self.ticket_vectors[t] for t in issue.ticket_ids if t in self.ticket_vectors]
            if rows:
                result[issue_id] = np.stack(rows)
        return result

    def added(self, ticket_id: int, issue_id: str, vector: np.ndarray, created: bool) -> None:
        if created:
            issue = self.db.issues[issue_id]
            text_vector = vector if self.text_from_first_ticket else self.embed([issue.text()])[0]
            self._index.add_issue(issue_id, text_vector, issue.provisional)
        self._index.add_member(issue_id, vector)
        self.ticket_vectors[ticket_id] = vector

    def removed(self, ticket_id: int, issue_id: str) -> None:
        vector = self.ticket_vectors.pop(ticket_id, None)
        if issue_id not in self.db.issues:
            self._index.remove_issue(issue_id)
        elif vector is not None:
            self._index.remove_member(issue_id, vector)
