"""The offline classifier (`--classifier embedding`): nearest confirmed issue by similarity, no LLM.

Also names issues from their distinctive words (c-TF-IDF) and folds a run's tiny issues into their
nearest large one at the end of the run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from conversation_utils import problem_statement
from records import Answer, Candidate, Outcome
from text_terms import terms

if TYPE_CHECKING:
    from decider import FinishedRun, PreparedTicket

# Tuned on the dstc11 insurance dev set (913 utterances, 22 intents) with the MiniLM int8 model:
# threshold 0.60 then fold issues of <= 3 tickets into the nearest issue at >= 0.50.
DEFAULT_THRESHOLD = 0.60
DEFAULT_REVIEW_MARGIN = 0.05
SMALL_ISSUE_SIZE = 3
FOLD_SIMILARITY = 0.50
PLACEHOLDER_CATEGORY = "Unnamed issue"


class EmbeddingClassifier:
    """Joins a ticket to its nearest confirmed issue when similar enough, else starts a new issue.

    A `Decider`: one decision at a time, each against the issues as the previous ticket left them;
    at the end of a run it folds the run's tiny issues into their nearest large one and names the
    new issues from their words.
    """

    name = "embedding"
    concurrency = 1
    threshold = None
    describes_issues = False

    def __init__(self, similarity_threshold: float = DEFAULT_THRESHOLD,
                 review_margin: float = DEFAULT_REVIEW_MARGIN, *, fold: bool = True) -> None:
        if not 0.0 <= similarity_threshold <= 1.0 or review_margin < 0.0:
            raise ValueError(f"threshold {similarity_threshold} must be in [0, 1] and margin {review_margin} >= 0")
        self.similarity_threshold = similarity_threshold
        self.review_margin = review_margin
        self.fold = fold

    def decide(self, ticket: PreparedTicket) -> Outcome:
        """The outcome for one ticket; flagged when the similarity is within the margin of the threshold."""
        ticket_id = ticket.ticket_id
        if not ticket.candidates:
            answer = self._new_issue("no confirmed issue yet")
            return Outcome(ticket_id=ticket_id, answer=answer)
        issue_id, similarity = ticket.candidates[0].issue_id, ticket.candidates[0].similarity
        threshold = self.similarity_threshold
        if similarity >= threshold:
            answer = Answer(
                issue_id=issue_id,
                category="",
                keywords=[],
                root_cause="",
                resolution_steps=[],
                confidence=_clip(similarity),
                notes=f"similarity {similarity:.2f} to {issue_id} (threshold {threshold:.2f})",
            )
        else:
            answer = self._new_issue(
                f"nearest issue {issue_id} at similarity {similarity:.2f} (threshold {threshold:.2f})",
                confidence=_clip(1.0 - similarity),
            )
        flag_reason = ""
        # A small tolerance keeps a similarity printed as "0.65" from escaping a 0.05 margin by rounding.
        if abs(similarity - threshold) <= self.review_margin + 1e-9:
            flag_reason = (
                f"similarity {similarity:.2f} within {self.review_margin:.2f} "
                f"of threshold {threshold:.2f} (nearest {issue_id})"
            )
        return Outcome(ticket_id=ticket_id, answer=answer, flag_reason=flag_reason)

    def second_look(self, ticket: PreparedTicket, first: Answer, candidates: list[Candidate]) -> Outcome:
        """Decided one at a time, a ticket never misses an issue another started meanwhile: keep the answer."""
        return Outcome(ticket_id=ticket.ticket_id, answer=first)

    def finish(self, run: FinishedRun) -> None:
        """Fold this run's tiny issues into their nearest large issue (tuned on the dev set), then name them."""
        if not run.stats.new_issue_ids:
            return
        if self.fold:
            fold_small_new_issues(run)
        name_new_issues(run)

    def _new_issue(self, notes: str, confidence: float = 1.0) -> Answer:
        # The name comes later from name_issues, once the issue has its tickets.
        return Answer(
            issue_id=None,
            category=PLACEHOLDER_CATEGORY,
            keywords=[],
            root_cause="",
            resolution_steps=[],
            confidence=confidence,
            notes=notes,
        )


def fold_small_new_issues(run: FinishedRun) -> list[tuple[str, str]]:
    """Merge this run's issues of at most 3 tickets into their nearest larger issue; returns the merges."""
    stats = run.stats
    plan = plan_small_issue_folds(run.index.member_vectors(), foldable=stats.new_issue_ids)
    for keep, folded in plan:
        tickets = len(run.db.issues[folded].ticket_ids)
        run.db.merge(keep, folded, run.now())
        stats.merged(keep, folded, tickets)
    return plan


def name_new_issues(run: FinishedRun) -> None:
    """Name this run's new issues from their distinctive words against all confirmed issues' words."""
    texts: dict[str, list[str]] = {}
    for issue in run.db.confirmed_issues():
        members = [run.load(ticket_id) for ticket_id in sorted(issue.ticket_ids)]
        texts[issue.issue_id] = [problem_statement(c) for c in members if c is not None]
    names = name_issues(texts)
    for issue_id in run.stats.new_issue_ids:
        if issue_id in run.db.issues and issue_id in names:
            issue = run.db.issues[issue_id]
            issue.category, issue.keywords = names[issue_id]


def _clip(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)


def plan_small_issue_folds(
    members: Mapping[str, np.ndarray],
    max_size: int = SMALL_ISSUE_SIZE,
    min_similarity: float = FOLD_SIMILARITY,
    foldable: Iterable[str] | None = None,
) -> list[tuple[str, str]]:
    """Merges `(keep_id, folded_id)` that fold each issue of at most `max_size` tickets into the
    issue of more tickets whose centroid is nearest, when at least `min_similarity`.

    `members` maps issue id to its tickets' vectors (n, dim); `foldable` limits which small issues
    may be folded (e.g. those created in this run). Deterministic: smallest issues first, ties by id.
    """
    allowed = set(members) if foldable is None else set(foldable)
    sizes = {issue_id: len(vectors) for issue_id, vectors in members.items() if len(vectors)}
    large = sorted(i for i, n in sizes.items() if n > max_size)
    small = [i for i in sorted(sizes) if sizes[i] <= max_size and i in allowed]
    small.sort(key=lambda i: (sizes[i], i))
    if not large or not small:
        return []
    sums = np.stack([np.asarray(members[i], dtype=np.float64).sum(axis=0) for i in large])
    plan = []
    for issue_id in small:
        own = np.asarray(members[issue_id], dtype=np.float64).sum(axis=0)
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        scores = centroids @ (own / max(float(np.linalg.norm(own)), 1e-12))
        best = int(np.argmax(scores))  # argmax takes the first maximum: the lowest id
        if scores[best] >= min_similarity:
            plan.append((large[best], issue_id))
            sums[best] += own
    return plan


def name_issues(texts_by_issue: dict[str, list[str]], top_n: int = 5) -> dict[str, tuple[str, list[str]]]:
    """A short category and up to `top_n` (at most 10) keywords per issue: its words that are frequent
    in its tickets and rare in the other issues' (c-TF-IDF). Deterministic."""
    top_n = max(1, min(top_n, 10))
    counts = {issue_id: Counter(t for text in texts for t in terms(text)) for issue_id, texts in
              texts_by_issue.items()}
    overall: Counter[str] = Counter()
    for counter in counts.values():
        overall.update(counter)
    unigram_totals = [sum(n for t, n in c.items() if " " not in t) for c in counts.values()]
    average = max(1.0, sum(unigram_totals) / max(1, len(unigram_totals)))
    names = {}
    for issue_id in sorted(counts):
        counter = counts[issue_id]
        total = sum(counter.values())
        scored = sorted(
            (
                # Bigrams get a small bonus: "password reset" names an issue better than "password".
                (n / total) * math.log(1.0 + average / overall[t]) * (1.2 if " " in t else 1.0),
                t,
            )
            for t, n in counter.items()
            # A bigram seen once is noise; a word seen once may still be all an issue has.
            if n >= 2 or " " not in t
        )
        ranked = [t for _, t in sorted(scored, key=lambda pair: (-pair[0], pair[1]))]
        keywords = _without_overlaps(ranked)[:top_n]
        names[issue_id] = (_category(keywords), keywords)
    return names


def _without_overlaps(ranked: list[str]) -> list[str]:
    """Drops a term whose words all appear in a better-ranked term (keeps "password reset", not "reset")."""
    chosen: list[str] = []
    seen_words: set[str] = set()
    for term in ranked:
        words = set(term.split())
        if words <= seen_words:
            continue
        chosen.append(term)
        seen_words |= words
    return chosen


def _category(keywords: list[str]) -> str:
    if not keywords:
        return PLACEHOLDER_CATEGORY
    first = keywords[0][0].upper() + keywords[0][1:]
    return f"{first} / {keywords[1]}" if len(keywords) > 1 else first
