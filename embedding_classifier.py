"""The offline classifier (`--classifier embedding`): nearest confirmed issue by similarity, no LLM.

Also names issues from their distinctive words (c-TF-IDF) and plans the end-of-run pass that folds
tiny issues into their nearest large one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from embeddings import CandidateIndex
from records import Answer, Outcome
from text_terms import terms

# Tuned on the dstc11 insurance dev set (913 utterances, 22 intents) with the MiniLM int8 model:
# threshold 0.60 then fold issues of <= 3 tickets into the nearest issue at >= 0.50.
DEFAULT_THRESHOLD = 0.60
DEFAULT_REVIEW_MARGIN = 0.05
SMALL_ISSUE_SIZE = 3
FOLD_SIMILARITY = 0.50
PLACEHOLDER_CATEGORY = "Unnamed issue"


class EmbeddingClassifier:
    """Joins a ticket to its nearest confirmed issue when similar enough, else starts a new issue."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, review_margin: float = DEFAULT_REVIEW_MARGIN):
        if not 0.0 <= threshold <= 1.0 or review_margin < 0.0:
            raise ValueError(f"threshold {threshold} must be in [0, 1] and margin {review_margin} >= 0")
        self.threshold = threshold
        self.review_margin = review_margin

    def classify(self, ticket_id: int, vector: np.ndarray, index: CandidateIndex) -> Outcome:
        """The outcome for one ticket; flagged when the similarity is within the margin of the threshold."""
        nearest = index.top_k(vector, 1)
        if not nearest:
            answer = self._new_issue("no confirmed issue yet")
            return Outcome(ticket_id=ticket_id, answer=answer)
        issue_id, similarity = nearest[0]
        if similarity >= self.threshold:
            answer = Answer(
                issue_id=issue_id,
                category="",
                keywords=[],
                root_cause="",
                resolution_steps=[],
                confidence=_clip(similarity),
                notes=f"similarity {similarity:.2f} to {issue_id} (threshold {self.threshold:.2f})",
            )
        else:
            answer = self._new_issue(
                f"nearest issue {issue_id} at similarity {similarity:.2f} (threshold {self.threshold:.2f})",
                confidence=_clip(1.0 - similarity),
            )
        flag_reason = ""
        # A small tolerance keeps a similarity printed as "0.65" from escaping a 0.05 margin by rounding.
        if abs(similarity - self.threshold) <= self.review_margin + 1e-9:
            flag_reason = (
                f"similarity {similarity:.2f} within {self.review_margin:.2f} "
                f"of threshold {self.threshold:.2f} (nearest {issue_id})"
            )
        return Outcome(ticket_id=ticket_id, answer=answer, flag_reason=flag_reason)

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
