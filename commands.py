"""What each command does, stage by stage: a run, fetch-only, prompt debugging, a dry run, review,
merge, the issues table, similar-ticket lookup and re-cleaning. Each takes the run context and returns a
`CommandResult` (text for people, one JSON object for scripts).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from clock import StageClock, now_iso
from command_result import CommandResult, plural, whole_numbers
from digest import digest_path
from errors import UsageError
from issue_clusterer import IssueDB, SideFiles, load_for_run
from run_lock import RunLock
from run_summary import build_summary, format_summary
from ticket_sources import SourceRequest, open_source

if TYPE_CHECKING:
    from decider import Decider
    from embeddings import EmbeddingCache
    from llm_classifier import LLMClassifier
    from preflight import ModelStatus
    from records import RunStats, RunSummary, SourceStats
    from run_context import RunContext

log = logging.getLogger(__name__)
T = TypeVar("T")


# ---- a run ---------------------------------------------------------------------------------------


def run(ctx: RunContext, request: SourceRequest) -> CommandResult:
    """Fetch, classify and write the DB, the review CSV and the report; returns the summary."""
    from candidates import IssueIndex
    from decider import FinishedRun
    from embeddings import open_embedder
    from outputs import write_outputs
    from pipeline import ClassifyConfig, ClassifyLoop
    from preflight import require_writable_folder
    from progress import RunProgress
    from records import RunRecord

    # Nothing is fetched before the DB's folder takes a file and the model answers.
    require_writable_folder(ctx.files.db)
    request = _resolve_since(request, ctx.files)
    decider = build_decider(ctx)
    with RunLock(ctx.files.lock):
        _sweep_stale_parts(ctx)
        with closing(open_source(ctx, request)) as source:
            embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
            started_at = now_iso()
            db, resumed = load_for_run(ctx.files, embedder.model_id)
            if resumed:
                log.info("resuming from the checkpoint %s", ctx.files.checkpoint)
            index = IssueIndex(db, embedder.embed, embedder.dim, text_from_first_ticket=not decider.describes_issues,
                       offers=decider.offers)
            index.build(ctx.store)
            clock = StageClock()
            with RunProgress.for_terminal(source.stats, quiet=ctx.quiet) as progress:
                loop = ClassifyLoop(db, index, decider, config=ClassifyConfig(reclassify=ctx.reclassify),
                                    checkpoint=_checkpointer(ctx.files, embedder), clock=clock,
                                    on_decided=progress.decided)
                stats = loop.run(clock.timed("fetch", progress.fetching(source.conversations())))
            decider.finish(FinishedRun(db, index, stats, ctx.store.get, now_iso))
            summary = _summary(ctx, decider.name, source.stats, stats, started_at)
        db.runs.append(RunRecord(started_at, summary.finished_at, summary))
        write_started = time.monotonic()
        embedder.flush()
        rows = write_outputs(db, ctx.files, ctx.store)
        clock.add("write", write_started)
    if ctx.verbose:
        log.info("time per stage: %s", clock.describe(time.monotonic() - ctx.started))
    paths = {"db": str(ctx.files.db), "flagged_csv": str(ctx.files.flagged_csv), "report": str(ctx.files.report),
             "digest": str(digest_path(ctx.files.report))}
    text = format_summary(summary, {
        "Issue DB": paths["db"],
        f"Flagged for review ({rows})": paths["flagged_csv"],
        "Report": paths["report"],
        "Digest": paths["digest"],
    })
    data = whole_numbers(summary.to_dict(), (), ("credits",))
    return CommandResult(text, {**data, "flagged_rows": rows, "files": paths})


def fetch_only(ctx: RunContext, request: SourceRequest) -> CommandResult:
    """Fetch and store conversations, nothing else."""
    from progress import RunProgress, tracked

    _sweep_stale_parts(ctx)
    with closing(open_source(ctx, _resolve_since(request, ctx.files))) as source:
        with RunProgress.for_terminal(source.stats, quiet=ctx.quiet, label="fetched") as progress:
            for _ in tracked(source.conversations(), progress):
                pass
        summary = _summary(ctx, "none", source.stats, None, now_iso())
    text = format_summary(summary, {"Conversations": str(ctx.store.root)})
    data = whole_numbers(summary.to_dict(), (), ("credits",))
    return CommandResult(text, {**data, "files": {"conversations": str(ctx.store.root)}})


def build_decider(ctx: RunContext) -> Decider:
    """The classifier the context names, as the run loop drives it."""
    if ctx.classifier == "embedding":
        from embedding_classifier import EmbeddingClassifier

        return EmbeddingClassifier()
    return _llm_classifier(ctx)


def _llm_classifier(ctx: RunContext) -> LLMClassifier:
    from llm_classifier import LLMClassifier
    from llm_client import LLMClient

    if ctx.llm is None:
        raise UsageError("the llm classifier needs LLM_API_BASE_URL and LLM_MODEL: set them in .env")
    redact = None
    if ctx.redact:
        from redact import redact_text

        redact = redact_text
    from preflight import require_model

    # One cheap request first: a model that does not answer stops the command before anything is fetched.
    require_model(ctx.llm)
    client = LLMClient(ctx.llm.base_url, ctx.llm.api_key, ctx.llm.model, reached=True)
    return LLMClassifier(client, threshold=ctx.settings.confidence_threshold, concurrency=ctx.concurrency,
                         redact=redact)


def _checkpointer(files: SideFiles, embedder: EmbeddingCache) -> Callable[[IssueDB], None]:
    def checkpoint(db: IssueDB) -> None:
        embedder.flush()
        db.save(files.checkpoint, compact=True)

    return checkpoint


def _summary(ctx: RunContext, classifier: str, fetched: SourceStats, stats: RunStats | None,
             started_at: str) -> RunSummary:
    return build_summary(
        started_at=started_at,
        finished_at=now_iso(),
        seconds=time.monotonic() - ctx.started,
        classifier=classifier,
        listed=fetched.listed,
        fetched=fetched.fetched,
        cached=fetched.cached,
        stats=stats,
        credits=fetched.credits,
        price_input=ctx.settings.llm_price_input,
        price_output=ctx.settings.llm_price_output,
        source=ctx.desk,
    )


def _sweep_stale_parts(ctx: RunContext) -> None:
    """Temp files left by a run killed mid-write (SIGKILL, power loss) go before new writes start."""
    from atomic_io import remove_stale_parts

    for folder in (ctx.files.db.parent, ctx.store.root, ctx.store.root / "raw"):
        if folder.is_dir():
            removed = remove_stale_parts(folder)
            if removed:
                log.info("removed %d temp file(s) a killed run left in %s", removed, folder)


def _resolve_since(request: SourceRequest, files: SideFiles) -> SourceRequest:
    """`--since last`: the newest `updated_at` the DB has seen."""
    if request.since != "last":
        return request
    if not files.db.exists():
        raise UsageError(
            f"--since last needs an existing DB, and {files.db} does not exist yet: start with "
            "--since YYYY-MM-DD or --pages N"
        )
    newest = IssueDB.load(files.db).newest_updated_at()
    if not newest:
        raise UsageError(f"{files.db} has no tickets yet: start with --since YYYY-MM-DD or --pages N")
    return replace(request, since=newest)


# ---- prompt debugging and dry runs ---------------------------------------------------------------


def prompt_debug(ctx: RunContext, request: SourceRequest) -> Iterator[CommandResult]:
    """For each ticket, what the model is sent and says, prepared exactly as a run prepares it; writes nothing."""
    from candidates import IssueIndex
    from conversation_utils import problem_statement
    from embeddings import open_embedder
    from pipeline import prepare_ticket

    classifier = _llm_classifier(ctx)
    _sweep_stale_parts(ctx)
    with closing(open_source(ctx, _resolve_since(replace(request, save=False), ctx.files))) as source:
        embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
        db, _ = load_for_run(ctx.files, embedder.model_id)
        index = IssueIndex(db, embedder.embed, embedder.dim)
        index.build(ctx.store)
        for conversation in source.conversations():
            ticket = prepare_ticket(index, conversation, embedder.embed([problem_statement(conversation)])[0])
            outcome = classifier.decide(ticket)
            messages = classifier.messages_for(ticket)
            blocks = [f"===== ticket {ticket.ticket_id} ====="]
            blocks += [f"----- {m['role']} message -----\n{m['content']}" for m in messages]
            blocks += [f"----- raw answer {n} -----\n{reply}" for n, reply in enumerate(outcome.raw_replies, start=1)]
            parsed = outcome.answer.to_dict() if outcome.answer else {"invalid": outcome.reason}
            blocks.append(f"----- parsed -----\n{json.dumps(parsed, indent=2, ensure_ascii=False)}")
            blocks.append(f"----- tokens: {outcome.prompt_tokens} prompt, {outcome.completion_tokens} completion -----")
            yield CommandResult("\n".join(blocks), {
                "ticket_id": ticket.ticket_id, "messages": messages, "raw_answers": list(outcome.raw_replies),
                "parsed": parsed, "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens})


# Counts a dry run prints as whole numbers (estimates rounded); credits may be fractional.
_ESTIMATE_COUNTS = ("model_calls", "second_looks", "consolidation_calls", "prompt_tokens", "completion_tokens")


def dry_run(ctx: RunContext, request: SourceRequest, *, fetch_only: bool) -> CommandResult:
    """Check the model, make the listing calls only, then estimate the rest from the cache and the DB; write
    nothing. A model that does not answer fails the dry run as it would fail the run (exit 2)."""
    from dry_run import estimate, format_estimate
    from llm_classifier import MAX_PROMPT_CHARS
    from run_summary import cost_label

    model = _model_status(ctx) if ctx.classifier == "llm" and not fetch_only else None
    db = IssueDB.load(ctx.files.db) if ctx.files.db.exists() else None
    with closing(open_source(ctx, _resolve_since(request, ctx.files))) as source:
        listed = list(source.listing())
    result = estimate(
        listed, store=ctx.store, db=db, classify=not fetch_only, llm=ctx.classifier == "llm",
        reclassify=ctx.reclassify, listing_credits=source.stats.credits, max_prompt_chars=MAX_PROMPT_CHARS,
        price_input=ctx.settings.llm_price_input, price_output=ctx.settings.llm_price_output,
    )
    data = whole_numbers(result.to_dict(), _ESTIMATE_COUNTS, ("listing_credits", "fetch_credits"))
    text = format_estimate(result, cost_label(ctx.desk))
    if model is None:
        return CommandResult(text, data)
    data["model"] = model.to_dict() if not isinstance(model, str) else {"configured": False, "problem": model}
    line = model if isinstance(model, str) else model.describe()
    text = text.replace("\nEstimated from:", f"\n{line}\nEstimated from:", 1)
    if not isinstance(model, str) and not model.reachable:
        return CommandResult(text, data, exit_code=2, error=f"the model endpoint {model.base_url} does not answer "
                             f"({model.problem}): a run would stop here; {model.fix}")
    return CommandResult(text, data)


def _model_status(ctx: RunContext) -> ModelStatus | str:
    """What the model endpoint says to one cheap request, or why there is none to ask."""
    from preflight import probe_model

    if ctx.llm is None:
        return "Model endpoint: not configured (set LLM_API_BASE_URL and LLM_MODEL in .env before a run)"
    return probe_model(ctx.llm)


# ---- commands on an existing DB ------------------------------------------------------------------


def _existing_db(files: SideFiles, fix: str) -> None:
    from cli_args import DEMO_OUTPUT

    if not files.db.exists():
        if DEMO_OUTPUT.exists() and files.db.resolve() != DEMO_OUTPUT.resolve():
            fix += f"; for the demo DB, add --db {DEMO_OUTPUT}"
        raise UsageError(f"{files.db} does not exist: {fix}")


def _edit_db(files: SideFiles, change: Callable[[IssueDB], T], then: Callable[[IssueDB], object] | None = None) -> T:
    """Lock the DB, load it, change it, save it atomically (then `then`, still under the lock)."""
    with RunLock(files.lock):
        db = IssueDB.load(files.db)
        result = change(db)
        db.save(files.db)
        if then is not None:
            then(db)
    return result


def apply_review(ctx: RunContext, csv_path: Path) -> CommandResult:
    """Apply the decisions typed into a review CSV (flagged tickets or merge suggestions), then rewrite the
    CSVs with what is still pending."""
    from outputs import refresh_outputs
    from review_csv import apply_merge_review, is_merge_csv
    from review_csv import apply_review as apply_decisions

    if not csv_path.is_file():
        raise UsageError(f"{csv_path} does not exist: give the flagged_for_review.csv beside your DB")
    _existing_db(ctx.files, "pass the DB the CSV belongs to with --db")
    apply = apply_merge_review if is_merge_csv(csv_path) else apply_decisions
    result = _edit_db(ctx.files, lambda db: apply(db, csv_path, now_iso()),
                      then=lambda db: refresh_outputs(db, ctx.files, ctx.store))
    text = (f"Applied {plural(result.applied, 'review decision')}; {result.pending} still pending. "
            f"DB: {ctx.files.db}; report refreshed: {ctx.files.report}")
    return CommandResult(text, {"applied": result.applied, "pending": result.pending, "db": str(ctx.files.db),
                                "csv": str(csv_path), "report": str(ctx.files.report)})


def consolidate(ctx: RunContext) -> CommandResult:
    """Consolidate an existing DB: every confirmed issue may be merged with its closest neighbours."""
    from candidates import IssueIndex
    from decider import FinishedRun
    from embeddings import open_embedder
    from outputs import write_outputs
    from records import RunStats

    _existing_db(ctx.files, "run the tool first, or pass the DB with --db")
    decider = build_decider(ctx)
    with RunLock(ctx.files.lock):
        db = IssueDB.load(ctx.files.db)
        embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
        index = IssueIndex(db, embedder.embed, embedder.dim, text_from_first_ticket=not decider.describes_issues,
                           offers=decider.offers)
        index.build(ctx.store)
        stats = RunStats()
        decider.consolidate(FinishedRun(db, index, stats, ctx.store.get, now_iso),
                            [issue.issue_id for issue in db.confirmed_issues()])
        embedder.flush()
        write_outputs(db, ctx.files, ctx.store)
    text = (f"Consolidation: {plural(stats.consolidation_calls, 'model call')}; "
            f"{plural(stats.consolidated, 'issue')} merged into older ones, "
            f"{plural(stats.merge_suggestions, 'merge suggestion')} in {ctx.files.merge_csv}. DB: {ctx.files.db}")
    return CommandResult(text, {"model_calls": stats.consolidation_calls, "merged": stats.consolidated,
                                "merge_suggestions": stats.merge_suggestions, "db": str(ctx.files.db),
                                "merge_csv": str(ctx.files.merge_csv)})


def merge(ctx: RunContext, keep: str, other: str) -> CommandResult:
    """Merge issue `other` into `keep`."""
    from outputs import refresh_outputs

    _existing_db(ctx.files, "pass the DB with --db")
    _edit_db(ctx.files, lambda db: db.merge(keep, other, now_iso()),
             then=lambda db: refresh_outputs(db, ctx.files, ctx.store))
    return CommandResult(f"Merged {other} into {keep}. DB: {ctx.files.db}; report refreshed: {ctx.files.report}",
                         {"kept": keep, "merged": other, "db": str(ctx.files.db), "report": str(ctx.files.report)})


def issues(ctx: RunContext, *, sort: str, top: int | None, now: datetime | None = None) -> CommandResult:
    """The DB's issues as a table, sorted by tickets, growth or recency."""
    from issue_trends import anchor_for
    from issues_table import format_table, issue_rows, sort_rows

    _existing_db(ctx.files, "run the tool first (python -m main --demo to try it), or pass the DB with --db")
    db = IssueDB.load(ctx.files.db)
    anchor = anchor_for(db.tickets, now or datetime.now(timezone.utc))
    rows = sort_rows(issue_rows(db, anchor.at), sort, top)
    return CommandResult(format_table(rows, len(db.issues), anchor.describe()), {
        "db": str(ctx.files.db), "sort": sort, "total": len(db.issues), "weeks_counted_from": anchor.at.isoformat(),
        "issues": [row.to_dict() for row in rows]})


def similar(ctx: RunContext, *, text: str | None, ticket_id: int | None) -> CommandResult:
    """The nearest confirmed issues and past tickets to a text or a stored ticket."""
    from embeddings import open_embedder
    from lookup import format_lookup, lookup

    _existing_db(ctx.files, "run the tool first, or pass the DB with --db")
    embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
    result = lookup(ctx.files.db, ctx.store, embedder, text=text, ticket_id=ticket_id)
    return CommandResult(format_lookup(result), result)


def reclean(ctx: RunContext) -> CommandResult:
    """Rebuild conversations/ from the raw API answers with the current cleaning code."""
    from conversation_utils import reclean_store
    from ticket_import import conversation_from_raw
    from ticket_sources import ticket_link

    # Raw answers of every source (Freshdesk, Zendesk, export files) are rebuilt by their own cleaning.
    rebuilt, problems = reclean_store(ctx.store, ticket_link(ctx), clean=conversation_from_raw)
    for problem in problems:
        log.warning("%s; skipped", problem)
    if not rebuilt and not problems:
        raise UsageError(f"no raw API answers in {ctx.store.root / 'raw'}: fetch tickets first "
                         "(python -m main --pages 1 --fetch-only)")
    text = (f"Re-cleaned {plural(rebuilt, 'conversation')} in {ctx.store.root} from {ctx.store.root / 'raw'}"
            + (f"; {plural(len(problems), 'raw file')} unusable (see the warnings)" if problems else ""))
    return CommandResult(text, {"recleaned": rebuilt, "unusable": len(problems), "folder": str(ctx.store.root)})
