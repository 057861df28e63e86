"""The offline classifier (`--classifier embedding`): nearest confirmed issue by similarity, no LLM.

At the end of a run the tickets that joined no issue are clustered in batches and the new issues are
named from their distinctive words (c-TF-IDF).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from batch_clustering import JOIN_SIMILARITY, Group, group_tickets
from conversation_utils import problem_statement
from embeddings import normalize_rows
from issue_clusterer import issue_id_for, issue_number
from issue_naming import (
    boilerplate_sentences,
    clean_keywords,
    extract_resolution,
    issue_name,
    personal_words,
    resolving_reply,
)
from records import Answer, Candidate, Outcome
from text_terms import terms

if TYPE_CHECKING:
    from decider import FinishedRun, PreparedTicket
    from issue_clusterer import Issue
    from records import Conversation

# A ticket joins an issue of an earlier run at this similarity (tuned on the dstc11 insurance dev set,
# 913 utterances, 22 intents, with the MiniLM int8 model); the rest of a run is clustered at its end.
DEFAULT_THRESHOLD = 0.60
DEFAULT_REVIEW_MARGIN = 0.05
# The name of an issue a run started and has not clustered and named yet.
PLACEHOLDER_CATEGORY = "Unnamed issue"


class EmbeddingClassifier:
    """Joins a ticket to its nearest confirmed issue when similar enough, else starts a new issue.

    A `Decider`: one decision at a time. A ticket joins the nearest named issue (one an earlier run
    clustered) when similar enough; the others wait, each in an unnamed issue that is never offered as
    a candidate, until the end of the run clusters them together in batches (batch_clustering.py) and
    names the new issues from their words.
    """

    name = "embedding"
    concurrency = 1
    threshold = None
    describes_issues = False

    def __init__(self, similarity_threshold: float = DEFAULT_THRESHOLD,
                 review_margin: float = DEFAULT_REVIEW_MARGIN) -> None:
        if not 0.0 <= similarity_threshold <= 1.0 or review_margin < 0.0:
            raise ValueError(f"threshold {similarity_threshold} must be in [0, 1] and margin {review_margin} >= 0")
        self.similarity_threshold = similarity_threshold
        self.review_margin = review_margin

    def offers(self, issue: Issue) -> bool:
        """Only named issues are candidates: a run's unnamed ones wait to be clustered together."""
        return issue.category != PLACEHOLDER_CATEGORY

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
        """Cluster the tickets still in unnamed issues (this run's, and an interrupted run's), flag the ones
        nearly as close to another issue as to their own, then name the new issues."""
        clustered = [t for i in run.db.confirmed_issues() if i.category == PLACEHOLDER_CATEGORY for t in i.ticket_ids]
        if cluster_unnamed_issues(run):
            self.consolidate(run, None)
            flag_ambiguous(run, clustered, self.review_margin)
        # Unconditional: issues an interrupted run clustered and did not name get their names now.
        name_new_issues(run)

    def consolidate(self, run: FinishedRun, eligible: list[str] | None) -> None:
        """Merge pairs of issues whose tickets are as alike as one cluster's (similarity alone, SPEC)."""
        from consolidation import merge_by_similarity

        merge_by_similarity(run, min_similarity=JOIN_SIMILARITY, eligible=eligible)

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


def cluster_unnamed_issues(run: FinishedRun) -> list[str]:
    """Group the unnamed issues' tickets (batch_clustering), joining issues of earlier runs where they fit;
    returns the new issues, numbered on from the first unnamed one."""
    db, index, stats = run.db, run.index, run.stats
    unnamed = [i for i in db.confirmed_issues() if i.category == PLACEHOLDER_CATEGORY]
    vectors = index.member_vectors()
    unnamed = [i for i in unnamed if i.issue_id in vectors]
    if not unnamed:
        return []
    named = [i for i in db.confirmed_issues() if i.category != PLACEHOLDER_CATEGORY and i.issue_id in vectors]
    known = [Group(i.issue_id, vectors[i.issue_id].sum(axis=0), len(vectors[i.issue_id])) for i in named]
    rows = np.stack([normalize_rows(vectors[i.issue_id].sum(axis=0, keepdims=True))[0] for i in unnamed])
    groups: dict[int, list[str]] = {}
    for issue, group in zip(unnamed, group_tickets(rows, known), strict=True):
        groups.setdefault(group, []).append(issue.issue_id)
    new_ids = []
    for group, members in groups.items():
        keep = known[group].key if group < len(known) else members[0]
        for other in members:
            if other != keep:
                moved = list(db.issues[other].ticket_ids)
                db.merge(keep, other, run.now(), action=None)  # never shown to anyone: no alias, no history
                index.merged(keep, other, moved)
                stats.merged(keep, other, len(moved))
        if group >= len(known):
            new_ids.append(keep)
    restored = _restore_reclassified_ids(run, new_ids)
    new_ids = [i for i in new_ids if i not in restored]
    renamed = _renumber(run, sorted(new_ids, key=issue_number), first=min(issue_number(i.issue_id) for i in unnamed))
    stats.new_issue_ids = sorted(set(stats.new_issue_ids) - set(new_ids) - set(restored) | set(renamed))
    stats.issues_created = len(stats.new_issue_ids)
    return renamed + sorted(restored.values())


def _restore_reclassified_ids(run: FinishedRun, new_ids: list[str]) -> dict[str, str]:
    """A new issue whose tickets all came, by --reclassify, from one issue that is gone takes that issue's
    id back: reclassifying keeps the ids of the issues it does not change. Returns new id -> restored id."""
    db = run.db
    came_from: dict[int, str] = {}
    for entry in db.history:
        if entry.action == "reclassify" and isinstance(entry.details.get("ticket_id"), int):
            came_from[entry.details["ticket_id"]] = str(entry.details.get("from"))
    if not came_from:
        return {}
    mapping: dict[str, str] = {}
    for issue_id in sorted(new_ids, key=lambda i: (-len(db.issues[i].ticket_ids), issue_number(i))):
        sources = {came_from.get(t) for t in db.issues[issue_id].ticket_ids}
        old = next(iter(sources)) if len(sources) == 1 else None
        if old and old not in db.issues and old not in mapping.values() and db.resolve(old) is None:
            mapping[issue_id] = old
    if mapping:
        next_number = db.next_issue_number
        db.renumber(mapping)
        db.next_issue_number = max(next_number, db.next_issue_number)  # a restored id frees no number
        run.index.renamed(mapping)
        for new, old in mapping.items():
            if new in run.stats.grown:
                run.stats.grown[old] = run.stats.grown.pop(new)
    return mapping


def flag_ambiguous(run: FinishedRun, ticket_ids: list[int], margin: float) -> None:
    """Flag a clustered ticket whose nearest other issue is within `margin` of its own issue (leaving it
    out of its own), with that issue as the suggestion: the grouping could have gone either way."""
    db, index = run.db, run.index
    vectors = index.member_vectors()
    issue_ids = sorted(vectors)
    totals = np.stack([vectors[i].sum(axis=0) for i in issue_ids])
    counts = np.array([len(vectors[i]) for i in issue_ids])
    column = {issue_id: n for n, issue_id in enumerate(issue_ids)}
    centroids = normalize_rows(totals)
    for ticket_id in ticket_ids:
        record = db.tickets.get(ticket_id)
        vector = index.ticket_vectors.get(ticket_id)
        if record is None or vector is None or record.flagged or counts[column[record.issue_id]] < 2:
            continue
        scores = centroids @ vector
        own = column[record.issue_id]
        rest = normalize_rows((totals[own] - vector)[None, :])[0]
        own_score, scores[own] = float(rest @ vector), -np.inf
        best = int(np.argmax(scores))
        if scores[best] >= own_score - margin:
            other = issue_ids[best]
            record.flagged = True
            record.reason = (f"nearly as similar to {other} ({scores[best]:.2f}) as to the rest of "
                             f"{record.issue_id} ({own_score:.2f})")
            if record.answer is not None:
                record.answer = replace(record.answer, issue_id=other)
            run.stats.flagged += 1


def _renumber(run: FinishedRun, new_ids: list[str], first: int) -> list[str]:
    """Give the new issues consecutive ids from number `first` on, when no other issue took a number after it."""
    db = run.db
    start = first
    if any(issue_number(i) >= start and i not in new_ids for i in db.issues):
        return new_ids
    mapping = {old: issue_id_for(start + n) for n, old in enumerate(new_ids)}
    db.renumber(mapping)
    run.index.renamed(mapping)
    for old, new in mapping.items():
        if old in run.stats.grown:
            run.stats.grown[new] = run.stats.grown.pop(old)
    return list(mapping.values())


def name_new_issues(run: FinishedRun) -> None:
    """Name this run's new issues (and any an interrupted run left unnamed): a name from the most
    representative problem statement, keywords from their distinctive words (c-TF-IDF), root cause and
    steps extracted from the agents' resolving replies (issue_naming.py)."""
    members: dict[str, list[Conversation]] = {}
    for issue in run.db.confirmed_issues():
        loaded = (run.load(ticket_id) for ticket_id in sorted(issue.ticket_ids))
        members[issue.issue_id] = [c for c in loaded if c is not None]
    names = name_issues({i: [problem_statement(c) for c in convs] for i, convs in members.items()})
    to_name = set(run.stats.new_issue_ids) | {i.issue_id for i in run.db.confirmed_issues()
                                              if i.category == PLACEHOLDER_CATEGORY}
    taken = {i.category for i in run.db.issues.values() if i.issue_id not in to_name}
    replies = {i: [resolving_reply(c) for c in convs] for i, convs in members.items()}
    stock = boilerplate_sentences(replies.values())
    for issue_id in sorted(to_name, key=issue_number):
        if issue_id not in run.db.issues or issue_id not in names:
            continue
        _describe(run, run.db.issues[issue_id], members.get(issue_id, []), names[issue_id][1], taken, stock)


def _describe(run: FinishedRun, issue: Issue, convs: list[Conversation], keywords: list[str],
              taken: set[str], boilerplate: frozenset[str]) -> None:
    """Give one offline issue its name, keywords and extracted root cause and steps."""
    personal = personal_words(convs)
    by_id = {c["ticket_id"]: c for c in convs}
    typical = [by_id[t] for t in run.index.typical_tickets(issue.issue_id, 8) if t in by_id]
    typical += [c for c in convs if c not in typical]
    issue.keywords = clean_keywords(keywords, personal)
    name = issue_name([problem_statement(c) for c in typical], personal) or _category(issue.keywords)
    if name in taken and issue.keywords:
        name = f"{name} ({issue.keywords[0]})"
    taken.add(name)
    issue.category = name
    extracted = extract_resolution([resolving_reply(c) for c in typical], personal, boilerplate)
    if extracted is not None and not issue.root_cause:
        issue.root_cause, issue.resolution_steps = extracted.root_cause, extracted.resolution_steps


def _clip(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)


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
