"""The decision interface both classifiers implement, and what the run loop hands them.

The run loop (pipeline.py) prepares each ticket (its vector and candidate issues), asks a
`Decider` for an `Outcome`, applies outcomes to the DB in ticket order, and lets the decider
finish the run (naming, folding, consolidating). Nothing in the loop knows which classifier runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from candidates import IssueIndex
    from clock import Now
    from issue_clusterer import Issue, IssueDB
    from records import Answer, Candidate, Conversation, Outcome, RunStats


@dataclass(frozen=True)
class PreparedTicket:
    """One ticket ready to decide: its conversation, its vector and the issues offered for it."""

    conversation: Conversation
    vector: np.ndarray
    candidates: list[Candidate]

    @property
    def ticket_id(self) -> int:
        return self.conversation["ticket_id"]


@dataclass(frozen=True)
class FinishedRun:
    """What a decider may change once every ticket of a run is applied."""

    db: IssueDB
    index: IssueIndex
    stats: RunStats
    load: Callable[[int], Conversation | None]
    now: Now


class Decider(Protocol):
    """A classifier as the run loop uses it."""

    # "llm" or "embedding", as the run summary names the classifier.
    name: str
    # Decisions in flight at once; 1 means each decision sees the DB as the previous one left it.
    concurrency: int
    # Confidence under which a decision starts a provisional issue; None when confidence is no
    # model's (the offline classifier), so nothing becomes provisional.
    threshold: float | None
    # False when new issues carry no description until `finish` names them.
    describes_issues: bool

    def offers(self, issue: Issue) -> bool:
        """Whether a confirmed issue may be a candidate (provisional ones never are)."""
        ...

    def decide(self, ticket: PreparedTicket) -> Outcome:
        """The outcome for one ticket; may run in a worker thread."""
        ...

    def second_look(self, ticket: PreparedTicket, first: Answer, candidates: list[Candidate]) -> Outcome:
        """Ask again whether a ticket answered "new issue" (`first`) is one of `candidates` after all."""
        ...

    def finish(self, run: FinishedRun) -> None:
        """End-of-run work on the DB: consolidation, and offline the clustering and naming of new issues."""
        ...

    def consolidate(self, run: FinishedRun, eligible: list[str] | None) -> None:
        """Merge confirmed issues that are one problem (`eligible`: the issues that may be; None: the run's)."""
        ...
