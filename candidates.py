"""The candidate stage: the DB's issues as vectors kept in step with the DB, and the nearest issues to a ticket."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from conversation_utils import problem_statement
from embeddings import CandidateIndex
from issue_clusterer import Issue, IssueDB, issue_text
from records import Answer, Candidate

if TYPE_CHECKING:
    from conversation_utils import ConversationStore

# The SPEC's "at most 15 confirmed issues" offered to the model.
TOP_K = 15

Embed = Callable[[Sequence[str]], np.ndarray]


class IssueIndex:
    """The candidate index kept in step with the DB's issues and their tickets' vectors."""

    def __init__(self, db: IssueDB, embed: Embed, dim: int, *, text_from_first_ticket: bool = False,
                 offers: Callable[[Issue], bool] | None = None) -> None:
        self.db = db
        self.embed = embed
        # Which issues may be candidates: confirmed ones, and of those what the classifier offers.
        self.offers = offers or (lambda issue: True)
        # A classifier that names its issues only at the end of a run (offline) leaves a new issue
        # without words until then: its first ticket stands for it, since embedding a placeholder
        # name would pull all new issues together.
        self.text_from_first_ticket = text_from_first_ticket
        self._index = CandidateIndex(dim)
        self.ticket_vectors: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, issue_id: object) -> bool:
        return issue_id in self._index

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
                    member_texts.append(problem_statement(conversation))
        vectors = self.embed(member_texts) if member_texts else np.zeros((0, texts.shape[1]), np.float32)
        self.ticket_vectors.update(zip(member_ids, vectors, strict=True))
        for issue, vector in zip(issues, texts, strict=True):
            self._index.add_issue(issue.issue_id, vector, not self._offered(issue))
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
        return self._index.text_similarity(self._described(answer), issue_ids)

    def described_near(self, answer: Answer, k: int) -> dict[str, float]:
        """The k offered issues whose own descriptions are nearest a model answer's description."""
        return dict(self._index.text_top_k(self._described(answer), k))

    def _described(self, answer: Answer) -> np.ndarray:
        return self.embed([issue_text(answer.category, answer.keywords, answer.root_cause)])[0]

    def _offered(self, issue: Issue) -> bool:
        return not issue.provisional and self.offers(issue)

    def neighbours(self, issue_id: str, k: int) -> dict[str, float]:
        """The k offered issues nearest another, by their tickets (rows) or by their own words, the better of both."""
        near: dict[str, float] = {}
        for found in (self._index.top_k(self._index.row_vector(issue_id), k + 1),
                      self._index.text_top_k(self._index.text_vector(issue_id), k + 1)):
            for other, similarity in found:
                if other != issue_id:
                    near[other] = max(float(similarity), near.get(other, -1.0))
        return near

    def typical_tickets(self, issue_id: str, k: int) -> list[int]:
        """The issue's k tickets nearest its row (those with a vector), most typical first."""
        ids = [t for t in sorted(self.db.issues[issue_id].ticket_ids) if t in self.ticket_vectors]
        if not ids:
            return []
        scores = np.stack([self.ticket_vectors[t] for t in ids]) @ self._index.row_vector(issue_id)
        order = np.lexsort((np.arange(len(ids)), -scores))[:k]
        return [ids[i] for i in order]

    def merged(self, keep_id: str, other_id: str, ticket_ids: list[int]) -> None:
        """Issue `other_id` and its tickets `ticket_ids` are now part of `keep_id`."""
        self._index.remove_issue(other_id)
        for ticket_id in ticket_ids:
            if ticket_id in self.ticket_vectors:
                self._index.add_member(keep_id, self.ticket_vectors[ticket_id])

    def renamed(self, mapping: dict[str, str]) -> None:
        """Issues renumbered in the DB (old -> new)."""
        if not mapping:
            return
        temporary = {old: f"\0{old}" for old in mapping}  # two steps, so that a new id may be an old one
        for old, staged in temporary.items():
            self._index.rename(old, staged)
        for old, new in mapping.items():
            self._index.rename(temporary[old], new)

    def vectors_of(self, issue_id: str) -> np.ndarray | None:
        """One issue's ticket vectors as a matrix, None when none of its tickets has one."""
        rows = [self.ticket_vectors[t] for t in self.db.issues[issue_id].ticket_ids if t in self.ticket_vectors]
        return np.stack(rows) if rows else None

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
            self._index.add_issue(issue_id, text_vector, not self._offered(issue))
        self._index.add_member(issue_id, vector)
        self.ticket_vectors[ticket_id] = vector

    def removed(self, ticket_id: int, issue_id: str) -> None:
        vector = self.ticket_vectors.pop(ticket_id, None)
        if issue_id not in self.db.issues:
            self._index.remove_issue(issue_id)
        elif vector is not None:
            self._index.remove_member(issue_id, vector)
