"""Command-line entry: parse arguments, wire the stages together, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from env import Settings, load_settings
from errors import SiloError, UsageError
from log_setup import SecretFilter, configure_logging

log = logging.getLogger("main")

DEFAULT_OUTPUT = Path("output") / "silo_issues_db.json"
DEMO_OUTPUT = Path("output") / "demo_issues_db.json"
CONVERSATIONS_DIR = Path("conversations")
EMBEDDING_CACHE_DIR = Path(".cache") / "embeddings"
MAX_SEARCH_PAGES = 10
DEFAULT_PAGES = 5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem, instead of argparse's usage dump.
        self.exit(2, f"error: {message} (see python -m main --help)\n")


def _pages(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SEARCH_PAGES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a page count: give a whole number from 1 to {MAX_SEARCH_PAGES} "
            "(Freshdesk search stops at page 10; use --since for more)"
        )
    return int(text)


def _ticket_ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of ticket ids: give ticket numbers separated by commas, e.g. 169,167"
        )
    return list(dict.fromkeys(int(p) for p in parts))


def _since(text: str) -> str:
    if text == "last":
        return text
    try:
        if len(text) != 10:
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: give YYYY-MM-DD, or 'last' for everything since the last run"
        ) from None
    return text


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: give a whole number from {low} to {high}")
        return int(text)

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m main",
        description="Find the recurring problems in a Freshdesk desk: fetch resolved/closed tickets, "
        "clean them, and sort each into a growing issue DB.",
    )
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--pages", type=_pages, metavar="N",
                      help=f"search pages of resolved/closed tickets, 30 a page (1-10; default {DEFAULT_PAGES})")
    pick.add_argument("--since", type=_since, metavar="YYYY-MM-DD|last",
                      help="every resolved/closed ticket updated since then; 'last' = since the newest "
                      "ticket the DB has seen (the weekly run)")
    pick.add_argument("--ticket-ids", type=_ticket_ids, metavar="1,2,3",
                      help="exactly these tickets, in this order")
    pick.add_argument("--from-cache", action="store_true",
                      help="classify the conversations already in conversations/, no Freshdesk calls")
    pick.add_argument("--demo", action="store_true",
                      help="run offline on the bundled sample desk: no credentials, no network")
    pick.add_argument("--apply-review", type=Path, metavar="CSV",
                      help="apply the decisions typed into a flagged_for_review.csv to the DB")
    pick.add_argument("--merge", nargs=2, metavar=("KEEP", "OTHER"), help="merge issue OTHER into issue KEEP")
    pick.add_argument("--similar", metavar="TEXT",
                      help="print the 5 nearest confirmed issues and 3 nearest past tickets to TEXT (offline)")
    pick.add_argument("--similar-to", type=_ticket_id, metavar="TICKET_ID",
                      help="the same for a ticket already in conversations/")
    pick.add_argument("--reclean", action="store_true",
                      help="rebuild conversations/ from the raw API answers in conversations/raw/ with the "
                      "current cleaning code; no Freshdesk calls")
    parser.add_argument("--query", metavar="CLAUSE",
                        help="extra Freshdesk search clause ANDed to the status filter, "
                        "e.g. 'group_id:12 AND tag:billing'")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help=f"issue DB (default {DEFAULT_OUTPUT}; {DEMO_OUTPUT} with --demo); "
                        "its CSV, report and checkpoint are written beside it")
    parser.add_argument("--fetch-only", action="store_true", help="stop after writing conversations/")
    parser.add_argument("--classifier", choices=("llm", "embedding"),
                        help="llm (default): ask the model; embedding: offline, by similarity (default with --demo)")
    parser.add_argument("--prompt-debug", action="store_true",
                        help="print each prompt, the raw answer and the parsed answer; write nothing")
    parser.add_argument("--reclassify", action="store_true",
                        help="decide the selected tickets again (except those a reviewer decided)")
    parser.add_argument("--concurrency", type=_bounded_int(1, 64), default=8, metavar="N",
                        help="model calls in parallel (default 8)")
    parser.add_argument("--batch-size", type=_bounded_int(1, 50), metavar="N",
                        help="parallel Freshdesk requests (default BATCH_SIZE, else 3)")
    parser.add_argument("--no-redact", action="store_true",
                        help="send ticket text to the model without masking emails, phones and card numbers")
    parser.add_argument("--verbose", action="store_true", help="debug logs and per-stage timings on stderr")
    parser.add_argument("--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the tickets and say what a run would fetch and classify, with Freshdesk "
                        "credits, model calls, tokens and cost; write nothing")
    parser.add_argument("--json", action="store_true",
                        help="with --similar, --similar-to or --dry-run: print JSON on stdout for scripts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scrubber = configure_logging(args.verbose, args.quiet)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        settings = load_settings(os.environ)
        scrubber = configure_logging(args.verbose, args.quiet, settings.secrets())
        _check_combinations(args)
        if args.apply_review:
            return _apply_review(args.apply_review, args.output or DEFAULT_OUTPUT, settings)
        if args.reclean:
            return _reclean(settings)
        if args.similar is not None or args.similar_to:
            return _similar(args, settings)
        if args.merge:
            return _merge(args.merge[0].upper(), args.merge[1].upper(), args.output or DEFAULT_OUTPUT)
        return _run(args, settings, scrubber)
    except SiloError as exc:
        print(f"error: {scrubber.scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted before any checkpoint was needed; nothing was lost", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): not an error worth a message.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the interpreter's flush at exit
        return 0
    except OSError as exc:
        # A full disk or an --output inside a file: one line naming the path, not a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        why = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            why = "a file is in the way of a folder"
        print(f"error: cannot write{where} ({why}): free disk space or choose a writable --output",
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    # SIGTERM takes the same path as Ctrl-C: checkpoint, then exit 130.
    raise KeyboardInterrupt


def _check_combinations(args: argparse.Namespace) -> None:
    if args.query and not (args.pages or args.since or not _picks_source(args)):
        raise UsageError("--query scopes a Freshdesk search: use it with --pages or --since")
    if args.prompt_debug and (args.demo or args.classifier == "embedding"):
        raise UsageError("--prompt-debug shows the model's prompts: use it with the llm classifier, not --demo")
    if args.fetch_only and (args.from_cache or args.demo):
        raise UsageError("--fetch-only fetches from Freshdesk: drop --from-cache or --demo")
    if args.demo and args.classifier == "llm":
        raise UsageError("--demo runs offline with the embedding classifier: drop --classifier llm")
    lookup = args.similar is not None or args.similar_to
    if (lookup or args.reclean) and (args.fetch_only or args.prompt_debug or args.reclassify or args.dry_run):
        raise UsageError("--similar, --similar-to and --reclean run on their own: drop --fetch-only, "
                         "--prompt-debug, --reclassify and --dry-run")
    if args.dry_run and (args.prompt_debug or args.demo or args.apply_review or args.merge):
        raise UsageError("--dry-run estimates a Freshdesk or --from-cache run: drop --prompt-debug, --demo, "
                         "--apply-review or --merge")
    if args.json and not (lookup or args.dry_run):
        raise UsageError("--json prints the result of --similar, --similar-to or --dry-run: use it with one of them")


def _picks_source(args: argparse.Namespace) -> bool:
    return bool(args.pages or args.since or args.ticket_ids or args.from_cache or args.demo
                or args.similar is not None or args.similar_to or args.reclean)


def _ticket_id(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ticket id: give a ticket number such as 169")
    return int(text)


def _progress(items: Iterable[Any], quiet: bool, desc: str, total: int | None = None) -> Iterable[Any]:
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit="ticket", file=sys.stderr,
                disable=quiet or not sys.stderr.isatty())


def _run(args: argparse.Namespace, settings: Settings, scrubber: SecretFilter) -> int:
    from conversation_utils import ConversationStore
    from fetch_stage import FetchStats, cached_conversations, demo_conversations, freshdesk_conversations
    from issue_clusterer import SideFiles
    from run_lock import RunLock

    started_wall = time.monotonic()
    demo = args.demo
    classifier_kind = args.classifier or ("embedding" if demo else "llm")
    output = args.output or (DEMO_OUTPUT if demo else DEFAULT_OUTPUT)
    files = SideFiles.for_db(output)
    if files.db.exists() and files.db.is_dir():
        raise UsageError(f"--output {files.db} is a folder: give a file path such as {files.db / 'issues.json'}")
    fetching = not (demo or args.from_cache)

    # Every setting the mode needs is checked before any network call.
    freshdesk = settings.freshdesk() if fetching else None
    llm_settings = settings.llm() if classifier_kind == "llm" and not (args.fetch_only or args.dry_run) else None
    embedding_settings = settings.embedding()
    ticket_base = freshdesk.base_url if freshdesk else _optional_base_url(settings)
    batch_size = args.batch_size or settings.batch_size

    def ticket_url(ticket_id: int) -> str:
        return f"{ticket_base}/a/tickets/{ticket_id}" if ticket_base else ""

    store = ConversationStore(CONVERSATIONS_DIR / "demo" if demo else CONVERSATIONS_DIR)
    if args.dry_run:
        return _dry_run(args, settings, files, store, freshdesk, classifier_kind, batch_size)
    writes = not args.prompt_debug
    lock = RunLock(files.lock) if writes and not args.fetch_only else contextlib.nullcontext()
    with lock:
        _remove_stale_parts(files.db.parent, store.root, store.root / "raw")
        since = args.since
        if since == "last":
            since = _last_seen(files)
        client = None
        fetch_stats = FetchStats()
        if demo:
            conversations: Iterable[Any] = demo_conversations(store, fetch_stats, ticket_url)
        elif args.from_cache:
            conversations = cached_conversations(store, fetch_stats, args.ticket_ids)
        else:
            from data_fetcher import FreshdeskClient

            client = FreshdeskClient(freshdesk.base_url, freshdesk.api_key, pool_size=batch_size)
            conversations = freshdesk_conversations(
                client, _listing(args, client, since), store, batch_size=batch_size,
                ticket_url=ticket_url, stats=fetch_stats, save=writes,
            )
        conversations = _progress(conversations, args.quiet, "tickets")

        if args.fetch_only:
            for _ in conversations:
                pass
            summary = _summary(started_wall, "none", fetch_stats, None, client, settings)
            print(_format(summary, {"Conversations": str(store.root)}))
            return 0

        embedder = _embedder(embedding_settings)
        if args.prompt_debug:
            return _prompt_debug(conversations, files, embedder, llm_settings, args, settings)
        return _classify(conversations, files, store, embedder, llm_settings, classifier_kind,
                         args, settings, fetch_stats, client, started_wall, ticket_url, ticket_base)


def _remove_stale_parts(*folders: Path) -> None:
    """Temp files left by a run killed mid-write (SIGKILL, power loss) go before new writes start."""
    from atomic_io import remove_stale_parts

    for folder in folders:
        if folder.is_dir():
            removed = remove_stale_parts(folder)
            if removed:
                log.info("removed %d temp file(s) a killed run left in %s", removed, folder)


def _optional_base_url(settings: Settings) -> str | None:
    try:
        return settings.ticket_base_url()
    except SiloError:
        return None


def _last_seen(files: Any) -> str:
    from issue_clusterer import IssueDB

    if not files.db.exists():
        raise UsageError(
            f"--since last needs an existing DB, and {files.db} does not exist yet: start with "
            "--since YYYY-MM-DD or --pages N"
        )
    newest = IssueDB.load(files.db).newest_updated_at()
    if not newest:
        raise UsageError(f"{files.db} has no tickets yet: start with --since YYYY-MM-DD or --pages N")
    return newest


def _listing(args: argparse.Namespace, client: Any, since: str | None) -> Iterator[Any]:
    from data_fetcher import iter_search, iter_ticket_ids, iter_updated_since

    if args.ticket_ids:
        return iter_ticket_ids(client, args.ticket_ids)
    if since:
        if args.query:
            from data_fetcher import iter_search_since

            return iter_search_since(client, since, args.query)
        return iter_updated_since(client, since)
    return iter_search(client, args.pages or DEFAULT_PAGES, args.query)


def _embedder(embedding_settings: Any) -> Any:
    from embeddings import EmbeddingCache, LocalEmbedder, RemoteEmbedder

    if embedding_settings is None:
        model = LocalEmbedder()
    else:
        model = RemoteEmbedder(embedding_settings.base_url, embedding_settings.api_key, embedding_settings.model)
    return EmbeddingCache(EMBEDDING_CACHE_DIR, model)


def _llm_classifier(llm_settings: Any) -> Any:
    from llm_classifier import LLMClassifier
    from llm_client import LLMClient

    client = LLMClient(llm_settings.base_url, llm_settings.api_key, llm_settings.model)
    return LLMClassifier(client)


def _redactor(args: argparse.Namespace) -> Callable[[str], str] | None:
    if args.no_redact:
        return None
    from redact import redact_text

    return redact_text


def _classify(
    conversations: Iterable[Any],
    files: Any,
    store: Any,
    embedder: Any,
    llm_settings: Any,
    classifier_kind: str,
    args: argparse.Namespace,
    settings: Settings,
    fetch_stats: Any,
    client: Any,
    started_wall: float,
    ticket_url: Callable[[int], str],
    ticket_base: str | None,
) -> int:
    from issue_clusterer import load_for_run, save_final, write_flagged_csv
    from pipeline import Classifier, ClassifyConfig, IssueIndex, StageClock, now_iso
    from report import write_report

    started_at = now_iso()
    db, resumed = load_for_run(files, embedder.model_id)
    if resumed:
        log.info("resuming from the checkpoint %s", files.checkpoint)
    offline = classifier_kind == "embedding"
    index = IssueIndex(db, embedder.embed, embedder.dim, name_from_ticket=offline)
    index.build(store)
    offline_classifier = text_classifier = None
    if offline:
        from embedding_classifier import EmbeddingClassifier

        offline_classifier = EmbeddingClassifier()
    else:
        text_classifier = _llm_classifier(llm_settings)
    clock = StageClock()
    runner = Classifier(
        db,
        index,
        config=ClassifyConfig(
            threshold=settings.confidence_threshold,
            concurrency=1 if offline else args.concurrency,
            reclassify=args.reclassify,
            offline=offline,
        ),
        text_classifier=text_classifier,
        offline_classifier=offline_classifier,
        checkpoint=lambda current: _checkpoint(current, files, embedder),
        redact=_redactor(args),
        clock=clock,
    )
    stats = runner.run(clock.timed("fetch", conversations))
    if offline and stats.new_issue_ids:
        runner.fold_small_new_issues()
        runner.name_new_issues(lambda ticket_id: _load_or_none(store, ticket_id))
    summary = _summary(started_wall, classifier_kind, fetch_stats, stats, client, settings, started_at)
    db.runs.append({"started_at": started_at, "finished_at": summary["finished_at"], "summary": summary})
    subjects = _subjects(store, db.tickets)
    write_started = time.monotonic()
    embedder.flush()
    save_final(db, files)
    flagged_rows = write_flagged_csv(files.flagged_csv, db, ticket_url=ticket_url, subjects=subjects)
    write_report(files.report, db.to_dict(), ticket_base_url=ticket_base, subjects=subjects)
    clock.add("write", write_started)
    if args.verbose:
        log.info("time per stage: %s", clock.describe(time.monotonic() - started_wall))
    print(_format(summary, {
        "Issue DB": str(files.db),
        f"Flagged for review ({flagged_rows})": str(files.flagged_csv),
        "Report": str(files.report),
    }))
    return 0


def _checkpoint(db: Any, files: Any, embedder: Any) -> None:
    embedder.flush()
    db.save(files.checkpoint, compact=True)


def _load_or_none(store: Any, ticket_id: int) -> Any:
    try:
        return store.load(ticket_id)
    except (SiloError, OSError):
        return None


def _subjects(store: Any, ticket_ids: Iterable[int]) -> dict[int, str]:
    subjects = {}
    for ticket_id in ticket_ids:
        with contextlib.suppress(SiloError, OSError, KeyError):
            subjects[ticket_id] = store.load(ticket_id)["subject"]
    return subjects


def _summary(started_wall: float, classifier: str, fetch_stats: Any, stats: Any, client: Any,
             settings: Settings, started_at: str | None = None) -> dict[str, Any]:
    from pipeline import now_iso
    from run_summary import build_summary

    return build_summary(
        started_at=started_at or now_iso(),
        finished_at=now_iso(),
        seconds=time.monotonic() - started_wall,
        classifier=classifier,
        listed=fetch_stats.listed,
        fetched=fetch_stats.fetched,
        cached=fetch_stats.cached,
        stats=stats,
        credits=client.credits_used if client else 0.0,
        price_input=settings.llm_price_input,
        price_output=settings.llm_price_output,
    )


def _format(summary: dict[str, Any], paths: dict[str, str]) -> str:
    from run_summary import format_summary

    return format_summary(summary, paths)


def _prompt_debug(conversations: Iterable[Any], files: Any, embedder: Any, llm_settings: Any,
                  args: argparse.Namespace, settings: Settings) -> int:
    """Print what the model sees and says for each ticket; nothing is written."""
    from issue_clusterer import IssueDB
    from pipeline import ClassifyConfig, IssueIndex
    from prompts_config import render_messages

    db = IssueDB.load(files.db) if files.db.exists() else IssueDB(embedding_model=embedder.model_id)
    index = IssueIndex(db, embedder.embed, embedder.dim)
    index.build(None)
    classifier = _llm_classifier(llm_settings)
    redact = _redactor(args)
    config = ClassifyConfig(threshold=settings.confidence_threshold)
    from conversation_utils import customer_text, transcript

    for conversation in conversations:
        vector = embedder.embed([customer_text(conversation)])[0]
        candidates = index.candidates(vector, config.top_k)
        text, _ = transcript(conversation, config.max_prompt_chars)
        text = redact(text) if redact else text
        messages = render_messages(text, candidates)
        outcome = classifier.classify(conversation["ticket_id"], text, candidates)
        print(f"===== ticket {conversation['ticket_id']} =====")
        for message in messages:
            print(f"----- {message['role']} message -----\n{message['content']}")
        for number, reply in enumerate(outcome.raw_replies, start=1):
            print(f"----- raw answer {number} -----\n{reply}")
        parsed = outcome.answer.to_dict() if outcome.answer else {"invalid": outcome.reason}
        print(f"----- parsed -----\n{json.dumps(parsed, indent=2, ensure_ascii=False)}")
        print(f"----- tokens: {outcome.prompt_tokens} prompt, {outcome.completion_tokens} completion -----")
    return 0


def _apply_review(csv_path: Path, output: Path, settings: Settings) -> int:
    from conversation_utils import ConversationStore
    from issue_clusterer import IssueDB, SideFiles, apply_review, write_flagged_csv
    from pipeline import now_iso
    from run_lock import RunLock

    files = SideFiles.for_db(output)
    if not csv_path.is_file():
        raise UsageError(f"{csv_path} does not exist: give the flagged_for_review.csv beside your DB")
    if not files.db.exists():
        raise UsageError(f"{files.db} does not exist: pass the DB the CSV belongs to with --output")
    base = _optional_base_url(settings)
    store = ConversationStore(CONVERSATIONS_DIR / "demo" if _is_demo_db(output) else CONVERSATIONS_DIR)
    with RunLock(files.lock):
        db = IssueDB.load(files.db)
        result = apply_review(db, csv_path, now_iso())
        db.save(files.db)
        # The reviewed rows leave the CSV; pending rows keep whatever the reviewer typed.
        write_flagged_csv(files.flagged_csv, db, ticket_url=lambda t: f"{base}/a/tickets/{t}" if base else "",
                          subjects=_subjects(store, db.flagged_pending()))
    print(f"Applied {result.applied} review decisions; {result.pending} still pending. DB: {files.db}")
    return 0


def _is_demo_db(output: Path) -> bool:
    # The demo DB's conversations live apart from the real desk's, as --demo stores them.
    return output.resolve() == DEMO_OUTPUT.resolve()


def _merge(keep: str, other: str, output: Path) -> int:
    from issue_clusterer import IssueDB, SideFiles
    from pipeline import now_iso
    from run_lock import RunLock

    files = SideFiles.for_db(output)
    if not files.db.exists():
        raise UsageError(f"{files.db} does not exist: pass the DB with --output")
    with RunLock(files.lock):
        db = IssueDB.load(files.db)
        db.merge(keep, other, now_iso())
        db.save(files.db)
    print(f"Merged {other} into {keep}. DB: {files.db}")
    return 0


def _dry_run(args: argparse.Namespace, settings: Settings, files: Any, store: Any, freshdesk: Any,
             classifier_kind: str, batch_size: int) -> int:
    """Make the listing calls only, then estimate the rest from the cache and the DB; write nothing."""
    from dry_run import Listed, estimate, format_estimate, listed_from_refs
    from issue_clusterer import IssueDB
    from pipeline import ClassifyConfig

    db = IssueDB.load(files.db) if files.db.exists() else None
    listing_credits = 0.0
    if args.from_cache:
        listed = [Listed(ticket_id, None, 0.0) for ticket_id in store.ticket_ids()]
    else:
        from data_fetcher import FreshdeskClient

        since = _last_seen(files) if args.since == "last" else args.since
        with FreshdeskClient(freshdesk.base_url, freshdesk.api_key, pool_size=batch_size) as client:
            listed = listed_from_refs(_listing(args, client, since))
            listing_credits = client.credits_used
    result = estimate(
        listed, store=store, db=db, classify=not args.fetch_only, llm=classifier_kind == "llm",
        reclassify=args.reclassify, listing_credits=listing_credits,
        max_prompt_chars=ClassifyConfig(threshold=0.0).max_prompt_chars,
        price_input=settings.llm_price_input, price_output=settings.llm_price_output,
    )
    print(json.dumps(result.to_dict(), indent=2, sort_keys=True) if args.json else format_estimate(result))
    return 0


def _reclean(settings: Settings) -> int:
    from conversation_utils import ConversationStore, reclean_store

    base = _optional_base_url(settings)
    store = ConversationStore(CONVERSATIONS_DIR)
    rebuilt, problems = reclean_store(store, lambda ticket_id: f"{base}/a/tickets/{ticket_id}" if base else "")
    for problem in problems:
        log.warning("%s; skipped", problem)
    if not rebuilt and not problems:
        raise UsageError(f"no raw API answers in {store.root / 'raw'}: fetch tickets first "
                         "(python -m main --pages 1 --fetch-only)")
    print(f"Re-cleaned {rebuilt} conversations in {store.root} from {store.root / 'raw'}"
          + (f"; {len(problems)} raw files unusable (see the warnings)" if problems else ""))
    return 0


def _similar(args: argparse.Namespace, settings: Settings) -> int:
    from conversation_utils import ConversationStore
    from lookup import format_lookup, lookup

    output = args.output or DEFAULT_OUTPUT
    store = ConversationStore(CONVERSATIONS_DIR / "demo" if _is_demo_db(output) else CONVERSATIONS_DIR)
    embedder = _embedder(settings.embedding())
    result = lookup(output, store, embedder, text=args.similar, ticket_id=args.similar_to)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else format_lookup(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
