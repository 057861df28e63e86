"""What each command does, stage by stage: a run, fetch-only, prompt debugging, a dry run, review,
merge, similar-ticket lookup and re-cleaning. Each takes the run context and returns what to print.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from clock import StageClock, now_iso
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
    from records import RunStats, RunSummary, SourceStats
    from run_context import RunContext

log = logging.getLogger(__name__)
T = TypeVar("T")


# ---- a run ---------------------------------------------------------------------------------------


def run(ctx: RunContext, request: SourceRequest) -> str:
    """Fetch, classify and write the DB, the review CSV and the report; returns the summary to print."""
    from candidates import IssueIndex
    from decider import FinishedRun
    from embeddings import open_embedder
    from outputs import write_outputs
    from pipeline import ClassifyConfig, ClassifyLoop
    from records import RunRecord

    with RunLock(ctx.files.lock):
        _sweep_stale_parts(ctx)
        with closing(open_source(ctx, _resolve_since(request, ctx.files))) as source:
            embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
            decider = build_decider(ctx)
            started_at = now_iso()
            db, resumed = load_for_run(ctx.files, embedder.model_id)
            if resumed:
                log.info("resuming from the checkpoint %s", ctx.files.checkpoint)
            index = IssueIndex(db, embedder.embed, embedder.dim, text_from_first_ticket=not decider.describes_issues,
                       offers=decider.offers)
            index.build(ctx.store)
            clock = StageClock()
            loop = ClassifyLoop(db, index, decider, config=ClassifyConfig(reclassify=ctx.reclassify),
                                checkpoint=_checkpointer(ctx.files, embedder), clock=clock)
            stats = loop.run(clock.timed("fetch", _progress(source.conversations(), ctx.quiet)))
            decider.finish(FinishedRun(db, index, stats, ctx.store.get, now_iso))
            summary = _summary(ctx, decider.name, source.stats, stats, started_at)
        db.runs.append(RunRecord(started_at, summary.finished_at, summary))
        write_started = time.monotonic()
        embedder.flush()
        rows = write_outputs(db, ctx.files, ctx.store)
        clock.add("write", write_started)
    if ctx.verbose:
        log.info("time per stage: %s", clock.describe(time.monotonic() - ctx.started))
    return format_summary(summary, {
        "Issue DB": str(ctx.files.db),
        f"Flagged for review ({rows})": str(ctx.files.flagged_csv),
        "Report": str(ctx.files.report),
        "Digest": str(digest_path(ctx.files.report)),
    })


def fetch_only(ctx: RunContext, request: SourceRequest) -> str:
    """Fetch and store conversations, nothing else."""
    _sweep_stale_parts(ctx)
    with closing(open_source(ctx, _resolve_since(request, ctx.files))) as source:
        for _ in _progress(source.conversations(), ctx.quiet):
            pass
        summary = _summary(ctx, "none", source.stats, None, now_iso())
    return format_summary(summary, {"Conversations": str(ctx.store.root)})


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
    client = LLMClient(ctx.llm.base_url, ctx.llm.api_key, ctx.llm.model)
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


def _progress(items: Iterable[T], quiet: bool) -> Iterable[T]:
    from tqdm import tqdm

    return tqdm(items, desc="tickets", unit="ticket", file=sys.stderr, disable=quiet or not sys.stderr.isatty())


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


def prompt_debug(ctx: RunContext, request: SourceRequest) -> Iterator[str]:
    """For each ticket, what the model is sent and says, prepared exactly as a run prepares it; writes nothing."""
    from candidates import IssueIndex
    from conversation_utils import problem_statement
    from embeddings import open_embedder
    from pipeline import prepare_ticket

    _sweep_stale_parts(ctx)
    with closing(open_source(ctx, _resolve_since(replace(request, save=False), ctx.files))) as source:
        embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
        db, _ = load_for_run(ctx.files, embedder.model_id)
        index = IssueIndex(db, embedder.embed, embedder.dim)
        index.build(ctx.store)
        classifier = _llm_classifier(ctx)
        for conversation in _progress(source.conversations(), ctx.quiet):
            ticket = prepare_ticket(index, conversation, embedder.embed([problem_statement(conversation)])[0])
            outcome = classifier.decide(ticket)
            blocks = [f"===== ticket {ticket.ticket_id} ====="]
            blocks += [f"----- {m['role']} message -----\n{m['content']}" for m in classifier.messages_for(ticket)]
            blocks += [f"----- raw answer {n} -----\n{reply}" for n, reply in enumerate(outcome.raw_replies, start=1)]
            parsed = outcome.answer.to_dict() if outcome.answer else {"invalid": outcome.reason}
            blocks.append(f"----- parsed -----\n{json.dumps(parsed, indent=2, ensure_ascii=False)}")
            blocks.append(f"----- tokens: {outcome.prompt_tokens} prompt, {outcome.completion_tokens} completion -----")
            yield "\n".join(blocks)


def dry_run(ctx: RunContext, request: SourceRequest, *, fetch_only: bool, as_json: bool) -> str:
    """Make the listing calls only, then estimate the rest from the cache and the DB; write nothing."""
    from dry_run import estimate, format_estimate
    from llm_classifier import MAX_PROMPT_CHARS
    from run_summary import cost_label

    db = IssueDB.load(ctx.files.db) if ctx.files.db.exists() else None
    with closing(open_source(ctx, _resolve_since(request, ctx.files))) as source:
        listed = list(source.listing())
    result = estimate(
        listed, store=ctx.store, db=db, classify=not fetch_only, llm=ctx.classifier == "llm",
        reclassify=ctx.reclassify, listing_credits=source.stats.credits, max_prompt_chars=MAX_PROMPT_CHARS,
        price_input=ctx.settings.llm_price_input, price_output=ctx.settings.llm_price_output,
    )
    return json.dumps(result.to_dict(), indent=2, sort_keys=True) if as_json else format_estimate(
        result, cost_label(ctx.desk))


# ---- commands on an existing DB ------------------------------------------------------------------


def _existing_db(files: SideFiles, fix: str) -> None:
    if not files.db.exists():
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


def apply_review(ctx: RunContext, csv_path: Path) -> str:
    """Apply the decisions typed into a review CSV (flagged tickets or merge suggestions), then rewrite the
    CSVs with what is still pending."""
    from outputs import refresh_outputs
    from review_csv import apply_merge_review, is_merge_csv
    from review_csv import apply_review as apply_decisions

    if not csv_path.is_file():
        raise UsageError(f"{csv_path} does not exist: give the flagged_for_review.csv beside your DB")
    _existing_db(ctx.files, "pass the DB the CSV belongs to with --output")
    apply = apply_merge_review if is_merge_csv(csv_path) else apply_decisions
    result = _edit_db(ctx.files, lambda db: apply(db, csv_path, now_iso()),
                      then=lambda db: refresh_outputs(db, ctx.files, ctx.store))
    return (f"Applied {result.applied} review decisions; {result.pending} still pending. DB: {ctx.files.db}; "
            f"report refreshed: {ctx.files.report}")


def consolidate(ctx: RunContext) -> str:
    """Consolidate an existing DB: every confirmed issue may be merged with its closest neighbours."""
    from candidates import IssueIndex
    from decider import FinishedRun
    from embeddings import open_embedder
    from outputs import write_outputs
    from records import RunStats

    _existing_db(ctx.files, "run the tool first, or pass the DB with --output")
    with RunLock(ctx.files.lock):
        db = IssueDB.load(ctx.files.db)
        embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
        decider = build_decider(ctx)
        index = IssueIndex(db, embedder.embed, embedder.dim, text_from_first_ticket=not decider.describes_issues,
                           offers=decider.offers)
        index.build(ctx.store)
        stats = RunStats()
        decider.consolidate(FinishedRun(db, index, stats, ctx.store.get, now_iso),
                            [issue.issue_id for issue in db.confirmed_issues()])
        embedder.flush()
        write_outputs(db, ctx.files, ctx.store)
    return (f"Consolidation: {stats.consolidation_calls} model calls; {stats.consolidated} issues merged into "
            f"older ones, {stats.merge_suggestions} merge suggestions in {ctx.files.merge_csv}. DB: {ctx.files.db}")


def merge(ctx: RunContext, keep: str, other: str) -> str:
    """Merge issue `other` into `keep`."""
    from outputs import refresh_outputs

    _existing_db(ctx.files, "pass the DB with --output")
    _edit_db(ctx.files, lambda db: db.merge(keep, other, now_iso()),
             then=lambda db: refresh_outputs(db, ctx.files, ctx.store))
    return f"Merged {other} into {keep}. DB: {ctx.files.db}; report refreshed: {ctx.files.report}"


def similar(ctx: RunContext, *, text: str | None, ticket_id: int | None, as_json: bool) -> str:
    """The nearest confirmed issues and past tickets to a text or a stored ticket."""
    from embeddings import open_embedder
    from lookup import format_lookup, lookup

    _existing_db(ctx.files, "run the tool first, or pass the DB with --output")
    embedder = open_embedder(ctx.embedding, ctx.embedding_cache)
    result = lookup(ctx.files.db, ctx.store, embedder, text=text, ticket_id=ticket_id)
    return json.dumps(result, indent=2, ensure_ascii=False) if as_json else format_lookup(result)


def reclean(ctx: RunContext) -> str:
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
    return (f"Re-cleaned {rebuilt} conversations in {ctx.store.root} from {ctx.store.root / 'raw'}"
            + (f"; {len(problems)} raw files unusable (see the warnings)" if problems else ""))
