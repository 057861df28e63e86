"""Offline batch clustering: the tickets of a run that cleared no existing issue, grouped together.

Tickets are taken in batches (in ticket order, so memory stays flat on a 10,000-ticket first run). A
batch is clustered by average linkage on cosine distance, then each ticket follows its nearest
neighbours where most of them went (kNN smoothing mends the chaining at cluster edges). A batch's
cluster then joins the most similar group already known (an issue from earlier runs, or a cluster of an
earlier batch) when their tickets are as similar on average as the linkage asks of one cluster.

Tuned on the shared desks (insurance 22 problems, banking 77) with the MiniLM int8 model and
problem-statement vectors; see the README's figures for what it reaches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

# Average-linkage cut: tickets of one cluster are on average at least 1 - 0.45 = 0.55 similar.
LINKAGE_DISTANCE = 0.45
JOIN_SIMILARITY = 1.0 - LINKAGE_DISTANCE
SMOOTHING_NEIGHBOURS = 5
SMOOTHING_ROUNDS = 3
# Only neighbours that could be the same problem at all vote (MiniLM scores unrelated tickets lower),
# so a ticket unlike every other stays on its own however small the batch.
SMOOTHING_FLOOR = 0.35
BATCH = 2000


@dataclass
class Group:
    """A set of tickets that stand for one problem: its id if known, the sum of its unit vectors, its size."""

    key: str | None
    total: np.ndarray
    count: int

    def similarity(self, total: np.ndarray, count: int) -> float:
        """Mean cosine similarity between this group's tickets and another set's (average linkage)."""
        return float(self.total @ total) / (self.count * count)


def cluster_batch(vectors: np.ndarray) -> np.ndarray:
    """Cluster labels (0..k-1, in order of first appearance) for one batch of unit vectors."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    data = np.asarray(vectors, dtype=np.float64)
    labels = fcluster(linkage(data, method="average", metric="cosine"), t=LINKAGE_DISTANCE, criterion="distance")
    if n > SMOOTHING_NEIGHBOURS:
        labels = _smooth(data, labels)
    return _in_order(labels)


def _smooth(data: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each ticket takes the label its nearest neighbours' similarities weigh most (its own counts as the
    nearest's), a few rounds or until nothing moves; neighbours under SMOOTHING_FLOOR have no vote."""
    similarity = data @ data.T
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :SMOOTHING_NEIGHBOURS]
    labels = labels.copy()
    for _ in range(SMOOTHING_ROUNDS):
        moved = labels.copy()
        for row, near in enumerate(neighbours):
            votes: Counter[int] = Counter()
            for other in near:
                if similarity[row, other] >= SMOOTHING_FLOOR:
                    votes[int(labels[other])] += float(similarity[row, other])
            votes[int(labels[row])] += float(similarity[row, near[0]])
            moved[row] = max(sorted(votes), key=lambda label: votes[label])
        if np.array_equal(moved, labels):
            break
        labels = moved
    return labels


def _in_order(labels: np.ndarray) -> np.ndarray:
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(label), len(first)) for label in labels], dtype=np.int64)


def group_tickets(vectors: np.ndarray, known: Sequence[Group], batch: int = BATCH) -> list[int]:
    """For each ticket (rows of `vectors`, in ticket order), the index of its group: a `known` group it
    joins, or a new one (numbered after the known, in order of first ticket)."""
    groups = list(known)
    assignment: list[int] = []
    for start in range(0, len(vectors), batch):
        chunk = np.asarray(vectors[start : start + batch], dtype=np.float64)
        labels = cluster_batch(chunk)
        target: dict[int, int] = {}
        for label in range(int(labels.max(initial=-1)) + 1):
            members = chunk[labels == label]
            total, count = members.sum(axis=0), len(members)
            scores = [group.similarity(total, count) for group in groups]
            best = int(np.argmax(scores)) if scores else -1
            if best >= 0 and scores[best] >= JOIN_SIMILARITY:
                groups[best].total = groups[best].total + total
                groups[best].count += count
                target[label] = best
            else:
                groups.append(Group(None, total, count))
                target[label] = len(groups) - 1
        assignment.extend(target[int(label)] for label in labels)
    return assignment
