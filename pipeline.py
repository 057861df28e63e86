"""The classify stage's run loop: embed, pick candidates, classify, apply in ticket order, checkpoint."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import numpy as np

from conversation_utils import ConversationStore, customer_text, transcript
from embeddings import CandidateIndex
from errors import DatabaseError, Interrupted, SiloError
from issue_clusterer import IssueDB, issue_text
from records import Answer, Candidate, Conversation, Outcome

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 15
RECHECK_FLOOR = 0.35


class TextClassifier(Protocol):
    def classify(self, ticket_id: int, ticket_text: str, candidates: list[Candidate]) -> Outcome: ...

    def recheck(self, ticket_id: int, ticket_text: str, first: Answer, candidates: list[Candidate]) -> Outcome: ...


@dataclass
class StageClock:
    """Seconds spent per stage, for `--verbose`."""

    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, stage: str, started: float) -> None:
        # Fetch and embed are charged from the prefetch thread, the rest from the main thread.
        elapsed = time.monotonic() - started
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed

    def describe(self, wall: float) -> str:
        """One line for `--verbose`: the prefetch thread's stages, then where the main thread waited."""
        s = self.seconds
        return (f"fetch {s.get('fetch', 0.0):.1f} s, embed {s.get('embed', 0.0):.1f} s (prefetch thread, "
                f"overlapped); main thread: waiting for tickets {s.get('ticket wait', 0.0):.1f} s, "
                f"waiting for the model {s.get('classify', 0.0):.1f} s, apply and write {s.get('write', 0.0):.1f} s; "
                f"wall {wall:.1f} s")

    def timed(self, stage: str, items: Iterable[Any]) -> Iterator[Any]:
        """Yield from `items`, charging the time spent waiting for each to `stage`."""
        iterator = iter(items)
        while True:
            started = time.monotonic()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(stage, started)
                return
            self.add(stage, started)
            yield item


@dataclass
class RunStats:
    tickets_seen: int = 0
    tickets_skipped: int = 0
    tickets_classified: int = 0
    issues_created: int = 0
    flagged: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasked: int = 0
    trimmed: int = 0
    new_issue_ids: list[str] = field(default_factory=list)
    grown: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassifyConfig:
    threshold: float
    top_k: int = DEFAULT_TOP_K
    concurrency: int = 1
    reclassify: bool = False
    checkpoint_every: int = 50
    checkpoint_seconds: float = 10.0
    max_prompt_chars: int = 6000
    offline: bool = False


class IssueIndex:
    """The candidate index kept in step with the DB's issues and their tickets' vectors."""

    def __init__(
        self, db: IssueDB, embed: Callable[[list[str]], np.ndarray], dim: int, *, name_from_ticket: bool = False
    ) -> None:
        self.db = db
        self.embed = embed
        # The offline classifier names issues only at the end of a run, so a new issue's first
        # ticket stands for it until then; embedding a placeholder name would pull issues together.
        self.name_from_ticket = name_from_ticket
        self.index = CandidateIndex(dim)
        self.ticket_vectors: dict[int, np.ndarray] = {}

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
                conversation = _load_quietly(store, ticket_id) if store else None
                if conversation is not None:
                    member_ids.append(ticket_id)
                    member_texts.append(customer_text(conversation))
        vectors = self.embed(member_texts) if member_texts else np.zeros((0, texts.shape[1]), np.float32)
        self.ticket_vectors.update(zip(member_ids, vectors, strict=True))
        for issue, vector in zip(issues, texts, strict=True):
            self.index.add_issue(issue.issue_id, vector, issue.provisional)
            for ticket_id in issue.ticket_ids:
                if ticket_id in self.ticket_vectors:
                    self.index.add_member(issue.issue_id, self.ticket_vectors[ticket_id])

    def candidates(self, vector: np.ndarray, k: int) -> list[Candidate]:
        result = []
        for issue_id, similarity in self.index.top_k(vector, k):
            issue = self.db.issues[issue_id]
            result.append(
                Candidate(issue_id, issue.category, list(issue.keywords), issue.root_cause, float(similarity))
            )
        return result

    def similarity_to(self, vector: np.ndarray, issue_ids: list[str]) -> dict[str, float]:
        """Similarity of `vector` to the given issues as the index scores them."""
        wanted = set(issue_ids)
        return {i: s for i, s in self.index.top_k(vector, len(self.index)) if i in wanted}

    def description_similarity(self, answer: Answer, issue_ids: list[str]) -> dict[str, float]:
        """Similarity of a model answer's description to the given issues' descriptions."""
        vector = self.embed([issue_text(answer.category, answer.keywords, answer.root_cause)])[0]
        return self.index.text_similarity(vector, issue_ids)

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
            text_vector = vector if self.name_from_ticket else self.embed([issue.text()])[0]
            self.index.add_issue(issue_id, text_vector, issue.provisional)
        self.index.add_member(issue_id, vector)
        self.ticket_vectors[ticket_id] = vector

    def removed(self, ticket_id: int, issue_id: str) -> None:
        vector = self.ticket_vectors.pop(ticket_id, None)
        if issue_id not in self.db.issues:
            self.index.remove_issue(issue_id)
        elif vector is not None:
            self.index.remove_member(issue_id, vector)


@dataclass
class _Pending:
    conversation: Conversation
    vector: np.ndarray
    ticket_text: str
    candidates: list[Candidate]
    issues_before: int
    future: Future[Outcome | None]
    # Set while the ticket's "new issue" answer is being rechecked against issues started since.
    first: Outcome | None = None


class Classifier:
    """Runs conversations through a classifier and applies the outcomes to the DB in ticket order."""

    def __init__(
        self,
        db: IssueDB,
        index: IssueIndex,
        *,
        config: ClassifyConfig,
        text_classifier: TextClassifier | None,
        offline_classifier: Any | None,
        checkpoint: Callable[[IssueDB], None],
        redact: Callable[[str], str] | None = None,
        clock: StageClock | None = None,
    ) -> None:
        self.db = db
        self.index = index
        self.config = config
        self.text_classifier = text_classifier
        self.offline_classifier = offline_classifier
        self.checkpoint = checkpoint
        self.redact = redact
        self.clock = clock or StageClock()
        self.stats = RunStats()
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    def run(self, conversations: Iterable[Conversation], batch: int = 16) -> RunStats:
        """Classify every new conversation; checkpoint on the way and on interrupt."""
        workers = max(1, self.config.concurrency)
        pending: deque[_Pending] = deque()
        # Fetching and embedding run ahead in a thread while this one waits for the model.
        feed = _Prefetch(conversations, self._embed_chunk, batch, self.clock)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="classify")
        try:
            for conversation, vector in self._selected(feed):
                pending.append(self._submit(pool, conversation, vector))
                self._make_room(pool, pending, workers)
            while pending:
                self._wait(pending)
                self._apply_answered(pool, pending)
        except KeyboardInterrupt:
            for item in pending:
                item.future.cancel()
            # Written before waiting for the calls already sent, so a second Ctrl-C loses nothing.
            self.checkpoint(self.db)
            in_flight = sum(1 for item in pending if not item.future.done())
            if in_flight:
                log.warning("interrupted: checkpoint written; waiting for %d model call(s) already sent", in_flight)
            raise Interrupted(
                "interrupted: a checkpoint was written; run the same command again to resume"
            ) from None
        except SiloError:
            # A stage failed for good (endpoint down, disk full): keep what was decided so far.
            with contextlib.suppress(SiloError, OSError):
                self.checkpoint(self.db)
            raise
        finally:
            feed.close()
            pool.shutdown(wait=True, cancel_futures=True)
        return self.stats

    def fold_small_new_issues(self) -> list[tuple[str, str]]:
        """Offline only: merge this run's tiny issues into their nearest large issue (tuned on the dev set)."""
        from embedding_classifier import plan_small_issue_folds

        plan = plan_small_issue_folds(self.index.member_vectors(), foldable=self.stats.new_issue_ids)
        for keep, folded in plan:
            self.db.merge(keep, folded, _now())
            self.stats.grown[keep] = self.stats.grown.get(keep, 0) + self.stats.grown.pop(folded, 0) + 1
        folded_ids = {folded for _, folded in plan}
        self.stats.new_issue_ids = [i for i in self.stats.new_issue_ids if i not in folded_ids]
        self.stats.issues_created = len(self.stats.new_issue_ids)
        return plan

    def name_new_issues(self, load: Callable[[int], Conversation | None]) -> None:
        """Offline only: name this run's new issues from their distinctive words against all issues'."""
        from embedding_classifier import name_issues

        texts: dict[str, list[str]] = {}
        for issue in self.db.confirmed_issues():
            members = [load(ticket_id) for ticket_id in sorted(issue.ticket_ids)]
            texts[issue.issue_id] = [customer_text(c) for c in members if c is not None]
        names = name_issues(texts)
        for issue_id in self.stats.new_issue_ids:
            if issue_id in self.db.issues and issue_id in names:
                issue = self.db.issues[issue_id]
                issue.category, issue.keywords = names[issue_id]

    def _needs_vector(self, conversation: Conversation) -> bool:
        record = self.db.tickets.get(conversation["ticket_id"])
        return record is None or (self.config.reclassify and not record.reviewed)

    def _embed_chunk(self, chunk: list[Conversation]) -> list[tuple[Conversation, np.ndarray | None]]:
        """Vectors for the conversations that will be classified (runs in the prefetch thread)."""
        wanted = [c for c in chunk if self._needs_vector(c)]
        started = time.monotonic()
        vectors = dict(zip((id(c) for c in wanted), self.index.embed([customer_text(c) for c in wanted]),
                           strict=True)) if wanted else {}
        self.clock.add("embed", started)
        return [(c, vectors.get(id(c))) for c in chunk]

    def _selected(
        self, pairs: Iterable[tuple[Conversation, np.ndarray | None]]
    ) -> Iterator[tuple[Conversation, np.ndarray]]:
        for conversation, vector in pairs:
            self.stats.tickets_seen += 1
            ticket_id = conversation["ticket_id"]
            record = self.db.tickets.get(ticket_id)
            if record is not None:
                if not self.config.reclassify or record.reviewed:
                    self.stats.tickets_skipped += 1
                    continue
                issue_id = self.db.remove_ticket(ticket_id, _now())
                self.index.removed(ticket_id, issue_id)
                details = {"ticket_id": ticket_id, "from": issue_id}
                self.db.history.append({"at": _now(), "action": "reclassify", "details": details})
            if vector is None:
                vector = self.index.embed([customer_text(conversation)])[0]
            yield conversation, vector

    def _submit(self, pool: ThreadPoolExecutor, conversation: Conversation, vector: np.ndarray) -> _Pending:
        candidates: list[Candidate] = []
        ticket_text = ""
        if self.config.offline:
            # Decided at apply time against the index as it then is, so nothing to ask now.
            future: Future[Outcome | None] = Future()
            future.set_result(None)
        else:
            candidates = self.index.candidates(vector, self.config.top_k)
            ticket_text = self._ticket_text(conversation)
            future = pool.submit(
                self.text_classifier.classify, conversation["ticket_id"], ticket_text, candidates
            )
        return _Pending(conversation, vector, ticket_text, candidates, self.db.next_issue_number, future)

    def _make_room(self, pool: ThreadPoolExecutor, pending: deque[_Pending], workers: int) -> None:
        """Apply answered tickets in order until another call may go out.

        At most `workers` calls are in flight, and one ticket more than that may wait to be applied:
        while the oldest ticket is being rechecked, the next ticket's call goes out instead of the pool
        idling behind it (rechecks only start at the front, so they are on the critical path).
        """
        while True:
            self._apply_answered(pool, pending)
            in_flight = sum(1 for item in pending if not item.future.done())
            if in_flight < workers and len(pending) < workers + 1:
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
        """Apply the answered tickets at the front, in ticket order; start a recheck where one is due."""
        while pending and pending[0].future.done():
            item = pending[0]
            outcome = item.future.result()
            if self.config.offline:
                started = time.monotonic()
                outcome = self.offline_classifier.classify(item.conversation["ticket_id"], item.vector,
                                                           self.index.index)
                self.clock.add("classify", started)
            elif item.first is None:
                recheck = self._recheck_candidates(item, outcome)
                if recheck:
                    self.stats.reasked += 1
                    item.first = outcome
                    item.future = pool.submit(self.text_classifier.recheck, item.conversation["ticket_id"],
                                              item.ticket_text, outcome.answer, recheck)
                    return
            else:
                outcome = _after_recheck(item.first, outcome)
            pending.popleft()
            self._apply(item, outcome)

    def _ticket_text(self, conversation: Conversation) -> str:
        text, trimmed = transcript(conversation, self.config.max_prompt_chars)
        if trimmed:
            self.stats.trimmed += 1
            log.info("ticket %s: conversation trimmed to %d characters for the model",
                     conversation["ticket_id"], self.config.max_prompt_chars)
        return self.redact(text) if self.redact else text

    def _apply(self, item: _Pending, outcome: Outcome) -> None:
        ticket_id = item.conversation["ticket_id"]
        self._count_tokens(outcome)
        started = time.monotonic()
        applied = self.db.apply(
            outcome,
            threshold=self.config.threshold,
            updated_at=item.conversation["updated_at"],
            now=_now(),
            flag_low_confidence=not self.config.offline,
        )
        self.index.added(ticket_id, applied.issue_id, item.vector, applied.created)
        self.stats.tickets_classified += 1
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

    def _recheck_candidates(self, item: _Pending, outcome: Outcome) -> list[Candidate]:
        """The issues started after a ticket's candidates were chosen that its "new issue" answer missed.

        Tickets are classified in parallel but applied in order, so a ticket may not have seen an
        issue that an earlier ticket created; without a recheck, concurrency would split issues.
        """
        answer = outcome.answer
        if answer is None or answer.issue_id is not None or answer.confidence < self.config.threshold:
            return []
        created_since = [
            f"ISS-{n:04d}"
            for n in range(item.issues_before, self.db.next_issue_number)
            if f"ISS-{n:04d}" in self.db.issues and not self.db.issues[f"ISS-{n:04d}"].provisional
        ]
        if not created_since:
            return []
        # Close = it would have been offered: as near as the farthest candidate shown, or, while the DB
        # has fewer issues than candidates, near enough to be the same problem at all (unrelated tickets
        # score well below RECHECK_FLOOR with MiniLM), so a young DB does not recheck nearly every ticket.
        bar = min((c.similarity for c in item.candidates), default=RECHECK_FLOOR)
        if len(item.candidates) < self.config.top_k:
            bar = min(bar, RECHECK_FLOOR)
        close = {i: s for i, s in self.index.similarity_to(item.vector, created_since).items() if s >= bar}
        if close and item.candidates:
            close = self._nearer_than_rejected(item, answer, close)
        ranked = sorted(close, key=lambda issue_id: (-close[issue_id], issue_id))[: self.config.top_k]
        return [
            Candidate(i, self.db.issues[i].category, list(self.db.issues[i].keywords),
                      self.db.issues[i].root_cause, float(close[i]))
            for i in ranked
        ]

    def _nearer_than_rejected(self, item: _Pending, answer: Answer, close: dict[str, float]) -> dict[str, float]:
        """Keep the issues nearer to the ticket than the nearest candidate the model turned down, by the
        ticket's vector or by the model's description of its problem; a farther one is almost never its
        issue, and rechecking every ticket against it would cost a call per "new issue" answer.
        """
        shown = [c.issue_id for c in item.candidates]
        nearest_shown = max(self.index.similarity_to(item.vector, shown).values(), default=-1.0)
        described = self.index.description_similarity(answer, shown + list(close))
        nearest_described = max((described[i] for i in shown if i in described), default=-1.0)
        return {
            issue_id: similarity for issue_id, similarity in close.items()
            if similarity >= nearest_shown or described.get(issue_id, 1.0) >= nearest_described
        }

    def _count_tokens(self, outcome: Outcome) -> None:
        self.stats.model_calls += outcome.calls
        self.stats.prompt_tokens += outcome.prompt_tokens
        self.stats.completion_tokens += outcome.completion_tokens


def _after_recheck(first: Outcome, second: Outcome) -> Outcome:
    """One outcome from a ticket's first answer and its recheck; a failed recheck keeps the first, flagged."""
    flag_reason = ""
    answer = second.answer
    if answer is None:
        answer = first.answer
        flag_reason = f"not checked against the issues started meanwhile: {second.reason}"
    return Outcome(
        ticket_id=first.ticket_id,
        answer=answer,
        reason=second.reason,
        flag_reason=first.flag_reason or flag_reason,
        prompt_tokens=first.prompt_tokens + second.prompt_tokens,
        completion_tokens=first.completion_tokens + second.completion_tokens,
        calls=first.calls + second.calls,
        raw_replies=first.raw_replies + second.raw_replies,
    )


class _Prefetch:
    """Pulls conversations (the fetch stage) and embeds them in chunks in a background thread.

    The main thread iterates the (conversation, vector) pairs in order; a bounded queue keeps memory
    flat; an error in the thread is raised in the main thread at the point it would have occurred.
    """

    _DONE = object()

    def __init__(
        self,
        conversations: Iterable[Conversation],
        embed_chunk: Callable[[list[Conversation]], list[Any]],
        batch: int,
        clock: StageClock,
        depth: int = 4,
    ) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # Held while the model runs: onnxruntime aborts the process if the interpreter exits mid-run.
        self._busy = threading.Lock()
        self._clock = clock
        self._thread = threading.Thread(
            target=self._work, args=(conversations, embed_chunk, batch), name="prefetch", daemon=True
        )
        self._thread.start()

    def _work(self, conversations: Iterable[Conversation], embed_chunk: Callable, batch: int) -> None:
        try:
            for chunk in _chunks(conversations, batch):
                with self._busy:
                    if self._stop.is_set():
                        return
                    pairs = embed_chunk(chunk)
                self._put(pairs)
            self._put(self._DONE)
        except BaseException as exc:  # handed to the main thread and raised there
            self._put(exc)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Any]:
        while True:
            started = time.monotonic()
            item = self._queue.get()
            self._clock.add("ticket wait", started)
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def close(self) -> None:
        """Stop the thread: wait for an embedding in progress, abandon a fetch in progress."""
        self._stop.set()
        with self._busy:
            pass
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load_quietly(store: ConversationStore, ticket_id: int) -> Conversation | None:
    try:
        return store.load(ticket_id)
    except (DatabaseError, FileNotFoundError):
        return None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return _now()
