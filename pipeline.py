"""The classify stage's run loop: embed, pick candidates, decide, apply in ticket order, checkpoint."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import numpy as np

from candidates import TOP_K, IssueIndex
from clock import Now, StageClock, now_iso
from conversation_utils import problem_statement
from decider import Decider, PreparedTicket
from decision_checks import review_outcome
from errors import Interrupted, SiloError
from issue_clusterer import IssueDB, issue_text
from prefetch import Prefetch
from records import Answer, Candidate, Conversation, Outcome, RunStats

log = logging.getLogger(__name__)

# MiniLM scores unrelated tickets well below this: an issue under it is not worth a second look.
RECHECK_FLOOR = 0.35
# A second look shows at most this many issues found by the answer's description, and none whose
# description is less similar to the answer's than this.
SECOND_LOOK_ISSUES = 5
SECOND_LOOK_FLOOR = 0.5


@dataclass(frozen=True)
class ClassifyConfig:
    top_k: int = TOP_K
    reclassify: bool = False
    checkpoint_every: int = 50
    checkpoint_seconds: float = 10.0


def prepare_ticket(index: IssueIndex, conversation: Conversation, vector: np.ndarray,
                   top_k: int = TOP_K) -> PreparedTicket:
    """A ticket with the candidate issues the index offers for it now (a run and --prompt-debug alike)."""
    return PreparedTicket(conversation, vector, index.candidates(vector, top_k))


@dataclass
class _Pending:
    ticket: PreparedTicket
    # The DB's next issue number when the ticket's issues were last chosen: later ones it has not seen.
    issues_before: int
    future: Future[Outcome]
    # The answer so far, while a second look at it is in flight.
    first: Outcome | None = None
    # Every issue a prompt has shown the ticket.
    shown: set[str] = field(default_factory=set)
    looked: bool = False
    # The DB's next issue number when the ticket was last checked for a second look: nothing new, no check.
    checked: int = -1

    def answered(self) -> bool:
        return self.first is None and self.future.done()


class ClassifyLoop:
    """Runs conversations through a `Decider` and applies the outcomes to the DB in ticket order."""

    def __init__(
        self,
        db: IssueDB,
        index: IssueIndex,
        decider: Decider,
        *,
        config: ClassifyConfig,
        checkpoint: Callable[[IssueDB], None],
        clock: StageClock | None = None,
        now: Now = now_iso,
        on_decided: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.index = index
        self.decider = decider
        self.config = config
        self.checkpoint = checkpoint
        self.clock = clock or StageClock()
        self.now = now
        self.on_decided = on_decided or (lambda count: None)
        self.stats = RunStats()
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    def run(self, conversations: Iterable[Conversation], batch: int = 16) -> RunStats:
        """Classify every new conversation; checkpoint on the way and on interrupt."""
        workers = max(1, self.decider.concurrency)
        pending: deque[_Pending] = deque()
        # Fetching and embedding run ahead in a thread while this one waits for the model.
        feed = Prefetch(conversations, self._embed_chunk, batch, self.clock)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="classify")
        try:
            for conversation, vector in self._selected(feed):
                ticket = prepare_ticket(self.index, conversation, vector, self.config.top_k)
                pending.append(_Pending(ticket, self.db.next_issue_number, pool.submit(self._decide, ticket)))
                self._make_room(pool, pending, workers)
            while pending:
                self._wait(pending)
                self._apply_answered(pool, pending)
        except KeyboardInterrupt:
            self._interrupted(pending)
        except SiloError:
            # A stage failed for good (endpoint down, disk full): keep what was decided so far. With
            # nothing decided there is nothing to keep, and a checkpoint would only make the next run "resume".
            if self.stats.tickets_classified:
                with contextlib.suppress(SiloError, OSError):
                    self.checkpoint(self.db)
            raise
        finally:
            feed.close()
            pool.shutdown(wait=True, cancel_futures=True)
        return self.stats

    def _interrupted(self, pending: deque[_Pending]) -> None:
        for item in pending:
            item.future.cancel()
        if not self.stats.tickets_classified:
            raise Interrupted("interrupted before any ticket was decided; nothing was written") from None
        # Written before waiting for the calls already sent, so a second Ctrl-C loses nothing.
        self.checkpoint(self.db)
        in_flight = sum(1 for item in pending if not item.future.done())
        if in_flight:
            log.warning("interrupted: checkpoint written; waiting for %d model call(s) already sent", in_flight)
        raise Interrupted("interrupted: a checkpoint was written; run the same command again to resume") from None

    def _needs_vector(self, conversation: Conversation) -> bool:
        record = self.db.tickets.get(conversation["ticket_id"])
        return record is None or (self.config.reclassify and not record.reviewed)

    def _embed_chunk(self, chunk: list[Conversation]) -> list[tuple[Conversation, np.ndarray | None]]:
        """Vectors for the conversations that will be classified (runs in the prefetch thread)."""
        wanted = [c for c in chunk if self._needs_vector(c)]
        started = time.monotonic()
        vectors = dict(zip((id(c) for c in wanted), self.index.embed([problem_statement(c) for c in wanted]),
                           strict=True)) if wanted else {}
        self.clock.add("embed", started)
        return [(c, vectors.get(id(c))) for c in chunk]

    def _selected(
        self, pairs: Iterable[tuple[Conversation, np.ndarray | None]]
    ) -> Iterator[tuple[Conversation, np.ndarray]]:
        for conversation, vector in pairs:
            ticket_id = conversation["ticket_id"]
            record = self.db.tickets.get(ticket_id)
            if record is not None:
                if not self.config.reclassify or record.reviewed:
                    self.stats.tickets_skipped += 1
                    self.on_decided(1)
                    continue
                now = self.now()
                issue_id = self.db.remove_ticket(ticket_id, now)
                self.index.removed(ticket_id, issue_id)
                self.db.log(now, "reclassify", {"ticket_id": ticket_id, "from": issue_id})
            if vector is None:
                vector = self.index.embed([problem_statement(conversation)])[0]
            yield conversation, vector

    def _make_room(self, pool: ThreadPoolExecutor, pending: deque[_Pending], workers: int) -> None:
        """Apply answered tickets in order until another call may go out.

        At most `workers` calls are in flight, and one ticket more than that may wait to be applied.
        While the oldest ticket gets a second look (they only start at the front, so they are on the
        critical path), up to `workers` more may wait, so the pool keeps answering instead of idling
        behind it.
        """
        while True:
            self._apply_answered(pool, pending)
            in_flight = sum(1 for item in pending if not item.future.done())
            waiting_room = 2 * workers if pending and pending[0].first is not None else workers + 1
            if in_flight < workers and len(pending) < waiting_room:
                return
            self._wait(pending)

    def _wait(self, pending: deque[_Pending]) -> None:
        """Wait until one more call in flight is answered."""
        started = time.monotonic()
        in_flight = [item.future for item in pending if not item.future.done()]
        if in_flight:
            wait(in_flight, return_when=FIRST_COMPLETED)
        self.clock.add("classify", started)

    def _apply_answered(self, pool: ThreadPoolExecutor, pending: deque[_Pending]) -> None:
        """Apply the answered tickets at the front, in ticket order; start second looks where due.

        A ticket's second look starts as soon as its answer arrives, against the issues applied by then,
        so it overlaps the calls of the tickets before it; at the front, the issues those started since
        get one more look if they come close.
        """
        for item in list(pending)[1:]:
            if item.answered() and not item.looked:
                self._look_again(pool, item)
        while pending and pending[0].future.done():
            item = pending[0]
            if self._look_again(pool, item):
                return
            pending.popleft()
            self._apply(item.ticket, item.future.result())

    def _look_again(self, pool: ThreadPoolExecutor, item: _Pending) -> bool:
        """Take in an answered look; start another one if the answer so far deserves it. True if one started."""
        outcome = item.future.result()
        if item.first is not None:  # a second look came back
            self.stats.second_look_calls += outcome.calls
            outcome = _after_second_look(item.first, outcome)
            item.first, item.future = None, _done(outcome)
        if item.checked == self.db.next_issue_number:
            return False  # no issue started since the last check
        item.checked = self.db.next_issue_number
        again = self._second_look_candidates(item, outcome)
        if not again or outcome.answer is None:
            return False
        self.stats.reasked += 0 if item.looked else 1
        item.first, item.looked = outcome, True
        item.shown |= {c.issue_id for c in again}
        item.issues_before = self.db.next_issue_number
        item.future = pool.submit(self._second_look, item.ticket, outcome.answer, again)
        return True

    def _decide(self, ticket: PreparedTicket) -> Outcome:
        return self._with_description_embedded(self.decider.decide(ticket))

    def _second_look(self, ticket: PreparedTicket, answer: Answer, again: list[Candidate]) -> Outcome:
        return self._with_description_embedded(self.decider.second_look(ticket, answer, again))

    def _with_description_embedded(self, outcome: Outcome) -> Outcome:
        """Embed the answer's description in the calling pool thread, so the main thread's plausibility check,
        second look and new issue find it in the embedding cache instead of stalling every call behind it."""
        answer = outcome.answer
        if answer is not None and self.decider.threshold is not None:
            self.index.embed([issue_text(answer.category, answer.keywords, answer.root_cause)])
        return outcome

    def _apply(self, ticket: PreparedTicket, outcome: Outcome) -> None:
        self._count(outcome)
        outcome = review_outcome(outcome, ticket, self.index, self.decider.threshold)
        started = time.monotonic()
        applied = self.db.apply(outcome, threshold=self.decider.threshold,
                                updated_at=ticket.conversation["updated_at"], now=self.now())
        self.index.added(ticket.ticket_id, applied.issue_id, ticket.vector, applied.created)
        self.stats.tickets_classified += 1
        self.on_decided(1)
        if applied.created:
            self.stats.issues_created += 1
            self.stats.new_issue_ids.append(applied.issue_id)
        else:
            self.stats.grown[applied.issue_id] = self.stats.grown.get(applied.issue_id, 0) + 1
        if applied.flagged:
            self.stats.flagged += 1
        self._since_checkpoint += 1
        if (
            self._since_checkpoint >= self.config.checkpoint_every
            or time.monotonic() - self._last_checkpoint >= self.config.checkpoint_seconds
        ):
            self.checkpoint(self.db)
            self._since_checkpoint = 0
            self._last_checkpoint = time.monotonic()
        self.clock.add("write", started)

    def _second_look_candidates(self, item: _Pending, outcome: Outcome) -> list[Candidate]:
        """The issues a confident "new issue" answer deserves a second look at (SPEC: the model's contract).

        Two kinds the first prompt could not weigh: confirmed issues whose own descriptions are nearer the
        answer's description than any candidate the model turned down (the pre-filter missed them), and
        issues that earlier tickets started while this one was being answered (tickets are asked in
        parallel but applied in order; without this, concurrency would change the DB). The second kind
        is looked at for unsure answers too, so that their suggestions do not depend on timing either.
        """
        answer = outcome.answer
        threshold = self.decider.threshold
        if answer is None or answer.issue_id is not None or threshold is None:
            return []
        shown = item.shown | {c.issue_id for c in item.ticket.candidates}
        near: dict[str, float] = {}
        # The answer's own description finds what the pre-filter missed, once, for a confident answer
        # (an unsure one is flagged for a person anyway).
        if not item.looked and answer.confidence >= threshold:
            described = self.index.described_near(answer, self.config.top_k + SECOND_LOOK_ISSUES)
            turned_down = [described[i] for i in shown if i in described]
            bar = max([SECOND_LOOK_FLOOR, *turned_down])
            near = {i: s for i, s in described.items() if i not in shown and s >= bar}
            near = dict(sorted(near.items(), key=lambda pair: (-pair[1], pair[0]))[:SECOND_LOOK_ISSUES])
        for issue_id, similarity in self._started_meanwhile(item, answer).items():
            if issue_id not in shown:
                near[issue_id] = max(similarity, near.get(issue_id, -1.0))
        ranked = sorted(near, key=lambda issue_id: (-near[issue_id], issue_id))[: self.config.top_k]
        return [self.db.issues[i].as_candidate(near[i]) for i in ranked]

    def _started_meanwhile(self, item: _Pending, answer: Answer) -> dict[str, float]:
        """Issues started after the ticket's candidates were chosen that would have been offered to it."""
        created_since = [i for i in self.db.issues_created_since(item.issues_before) if i in self.index]
        if not created_since:
            return {}
        shown = item.ticket.candidates
        # Close = it would have been offered: as near as the farthest candidate shown, or, while the DB
        # has fewer issues than candidates, near enough to be the same problem at all (unrelated tickets
        # score well below RECHECK_FLOOR with MiniLM), so a young DB does not look twice at nearly every ticket.
        bar = min((c.similarity for c in shown), default=RECHECK_FLOOR)
        if len(shown) < self.config.top_k:
            bar = min(bar, RECHECK_FLOOR)
        vector = item.ticket.vector
        close = {i: s for i, s in self.index.similarity_to(vector, created_since).items() if s >= bar}
        if close and shown:
            close = self._nearer_than_rejected(item.ticket, answer, close)
        return close

    def _nearer_than_rejected(self, ticket: PreparedTicket, answer: Answer,
                              close: dict[str, float]) -> dict[str, float]:
        """Keep the issues nearer to the ticket than the nearest candidate the model turned down, by the
        ticket's vector or by the model's description of its problem; a farther one is almost never its
        issue, and looking twice at every ticket for it would cost a call per "new issue" answer.
        """
        shown = [c.issue_id for c in ticket.candidates]
        nearest_shown = max(self.index.similarity_to(ticket.vector, shown).values(), default=-1.0)
        described = self.index.description_similarity(answer, shown + list(close))
        nearest_described = max((described[i] for i in shown if i in described), default=-1.0)
        return {
            issue_id: similarity for issue_id, similarity in close.items()
            if similarity >= nearest_shown or described.get(issue_id, 1.0) >= nearest_described
        }

    def _count(self, outcome: Outcome) -> None:
        self.stats.model_calls += outcome.calls
        self.stats.prompt_tokens += outcome.prompt_tokens
        self.stats.completion_tokens += outcome.completion_tokens
        self.stats.trimmed += int(outcome.trimmed)


def _done(outcome: Outcome) -> Future[Outcome]:
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future


def _after_second_look(first: Outcome, second: Outcome) -> Outcome:
    """One outcome from a ticket's first answer and its second look.

    The second answer stands when it names one of the issues shown again; a null keeps the first
    answer's new issue; no valid answer keeps the first, flagged.
    """
    flag_reason = ""
    answer = second.answer
    if answer is None:
        answer = first.answer
        flag_reason = f"not checked against the close issues of a second look: {second.reason}"
    elif answer.issue_id is None:
        answer = first.answer
    return replace(
        first,
        answer=answer,
        reason=second.reason,
        flag_reason=first.flag_reason or flag_reason,
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        completion_tokens=first.completion_tokens + second.completion_tokens,
        calls=first.calls + second.calls,
        raw_replies=first.raw_replies + second.raw_replies,
    )
