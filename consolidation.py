"""Consolidation ("dedup/merge" in the plan): confirmed issues that may be one problem, settled a pair at a time.

After a run (and on demand with `--consolidate`) the pairs of confirmed issues nearest each other, by
their descriptions or by their tickets, are judged closest first: by the model (two issues and a few of
their tickets' problem statements, SPEC: the model's contract) or, offline, by similarity alone. A
merge keeps the older id and records the other as its alias; an unsure or invalid answer becomes a
merge suggestion for a reviewer; a pair judged different or rejected is never asked about again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from conversation_utils import problem_statement
from issue_clusterer import MergeSuggestion
from records import JSONObject, PairVerdict

if TYPE_CHECKING:
    from decider import FinishedRun

log = logging.getLogger(__name__)

# Pairs scoring below this (the better of description and ticket similarity) are not worth a call.
PAIR_FLOOR = 0.7
# Each issue brings its few nearest neighbours as candidate pairs.
NEIGHBOURS = 3
EXAMPLES = 3
# A run's model calls, all kinds, stay within this many per ticket classified: consolidation gets
# what first answers and second looks left of it, and at most one call per two issues it may touch.
CALLS_PER_TICKET = 1.15


class Judged(Protocol):
    """What a judge returns: the verdict (None when it never answered validly), why not, and its cost."""

    value: PairVerdict | None
    reason: str
    calls: int
    prompt_tokens: int
    completion_tokens: int


Judge = Callable[[list[JSONObject]], Judged]


@dataclass(frozen=True)
class Pair:
    older: str
    newer: str
    score: float


def close_pairs(run: FinishedRun, eligible: Iterable[str], floor: float = PAIR_FLOOR) -> list[Pair]:
    """Pairs of offered issues, at least one of them eligible, closest first, never asked about before."""
    db, index = run.db, run.index
    pairs: dict[tuple[str, str], float] = {}
    for issue_id in sorted(set(eligible)):
        if issue_id not in db.issues or issue_id not in index:
            continue
        for other, score in index.neighbours(issue_id, NEIGHBOURS).items():
            older, newer = sorted((issue_id, other))
            if score >= floor and not db.pair_settled(older, newer):
                pairs[(older, newer)] = max(score, pairs.get((older, newer), -1.0))
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return [Pair(older, newer, score) for (older, newer), score in ranked]


def ask_about_close_pairs(run: FinishedRun, judge: Judge, *, threshold: float, concurrency: int = 1,
                          eligible: Iterable[str] | None = None) -> None:
    """Judge the closest pairs with the model, `concurrency` at a time and within the call budget, and apply
    the verdicts closest pair first. `eligible` None: after a run, the issues it created or grew."""
    stats = run.stats
    touched = _touched(run) if eligible is None else list(eligible)
    budget = math.ceil(len(touched) / 2)
    if eligible is None:  # after a run: within the run's calls per ticket
        budget = min(budget, math.floor(CALLS_PER_TICKET * stats.tickets_classified) - stats.model_calls)
    queue = close_pairs(run, touched)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="consolidate") as pool:
        while queue and budget > 0:
            batch, queue = queue[: min(budget, concurrency)], queue[min(budget, concurrency):]
            asked = [(pair, pool.submit(judge, [_prompt_issue(run, pair.older), _prompt_issue(run, pair.newer)]))
                     for pair in batch]
            for pair, future in asked:
                judged = future.result()
                budget -= max(1, judged.calls)
                stats.consolidation_calls += judged.calls
                stats.model_calls += judged.calls
                stats.prompt_tokens += judged.prompt_tokens
                stats.completion_tokens += judged.completion_tokens
                current = _current(run, pair)
                if current is not None:
                    settle(run, current, judged.value, threshold=threshold, invalid_reason=judged.reason)
            queue = [pair for pair in queue if _current(run, pair) == pair]


def merge_by_similarity(run: FinishedRun, *, min_similarity: float, eligible: Iterable[str] | None = None) -> None:
    """Offline consolidation: merge the close pairs whose tickets are on average at least `min_similarity`
    alike (the average-linkage criterion the batch clustering uses), closest first."""
    touched = _touched(run) if eligible is None else list(eligible)
    for pair in close_pairs(run, touched, floor=min(PAIR_FLOOR, min_similarity)):
        current = _current(run, pair)
        if current is None:
            continue
        older, newer = run.index.vectors_of(current.older), run.index.vectors_of(current.newer)
        if older is None or newer is None:
            continue
        similarity = mean_similarity(older, newer)
        if similarity >= min_similarity:
            merge_pair(run, current, run.now(), {"similarity": round(similarity, 4)})


def settle(run: FinishedRun, pair: Pair, verdict: PairVerdict | None, *, threshold: float,
           invalid_reason: str = "") -> None:
    """Apply one verdict: merge, suggest, or remember the pair as different."""
    db, now = run.db, run.now()
    if verdict is None:
        _suggest(run, pair, 0.0, f"no valid answer about this pair: {invalid_reason}", now)
    elif verdict.same_problem and verdict.confidence >= threshold:
        merge_pair(run, pair, now, {"confidence": round(verdict.confidence, 4), "notes": verdict.notes})
    elif verdict.same_problem:
        _suggest(run, pair, verdict.confidence, f"may be one problem (confidence {verdict.confidence:.2f}): "
                 f"{verdict.notes}".rstrip(": "), now)
    else:
        db.merge_suggestions.append(MergeSuggestion(pair.older, pair.newer, round(verdict.confidence, 4),
                                                    verdict.notes, "different", now))


def merge_pair(run: FinishedRun, pair: Pair, now: str, details: JSONObject) -> None:
    """Merge the newer issue into the older, in the DB and in the candidate index."""
    db, index, stats = run.db, run.index, run.stats
    moved = list(db.issues[pair.newer].ticket_ids)
    db.merge(pair.older, pair.newer, now, action="consolidate", details={"score": round(pair.score, 4), **details})
    index.merged(pair.older, pair.newer, moved)
    stats.consolidated += 1
    stats.merged(pair.older, pair.newer, len(moved))
    log.info("consolidated %s into %s (%d tickets)", pair.newer, pair.older, len(moved))


def _current(run: FinishedRun, pair: Pair) -> Pair | None:
    """The pair as the DB now names it (an issue may have been merged into another), None when it is one issue."""
    older, newer = run.db.resolve(pair.older), run.db.resolve(pair.newer)
    if older is None or newer is None or older == newer:
        return None
    first, second = sorted((older, newer))
    return pair if (first, second) == (pair.older, pair.newer) else Pair(first, second, pair.score)


def _suggest(run: FinishedRun, pair: Pair, confidence: float, reason: str, now: str) -> None:
    run.db.merge_suggestions.append(MergeSuggestion(pair.older, pair.newer, round(confidence, 4), reason,
                                                    "pending", now))
    run.stats.merge_suggestions += 1


def _touched(run: FinishedRun) -> list[str]:
    """The confirmed issues this run created or grew: only they can have become duplicates."""
    ids = [*run.stats.new_issue_ids, *run.stats.grown]
    return [i for i in dict.fromkeys(ids) if i in run.db.issues and not run.db.issues[i].provisional]


def _prompt_issue(run: FinishedRun, issue_id: str) -> JSONObject:
    """An issue as the consolidation prompt shows it, with its most typical tickets' problem statements."""
    issue = run.db.issues[issue_id]
    examples = []
    for ticket_id in run.index.typical_tickets(issue_id, EXAMPLES):
        conversation = run.load(ticket_id)
        if conversation is not None:
            examples.append(problem_statement(conversation, max_chars=400))
    return {"issue_id": issue.issue_id, "category": issue.category, "keywords": list(issue.keywords),
            "root_cause": issue.root_cause, "examples": examples}


def mean_similarity(first: np.ndarray, second: np.ndarray) -> float:
    """The mean cosine similarity between the rows of two sets of unit vectors (average linkage)."""
    return float(first.sum(axis=0) @ second.sum(axis=0)) / (len(first) * len(second))
