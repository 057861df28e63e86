"""The command line's words: argument types, the parser with its examples, and the combinations refused."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import NoReturn

from errors import UsageError
from source_options import add_arguments as add_source_arguments

DEFAULT_OUTPUT = Path("output") / "silo_issues_db.json"
DEMO_OUTPUT = Path("output") / "demo_issues_db.json"
SORT_KEYS = ("tickets", "growth", "recency")

EXAMPLES = """examples:
  python -m main --demo                                  # try it offline on the bundled sample desk
  python -m main --issues --db output/demo_issues_db.json --top 10
  python -m main --pages 1 --dry-run                     # what a run would fetch and cost; checks the model
  python -m main --since last                            # the weekly run
  python -m main --issues --sort growth --top 5          # the issues growing fastest
  python -m main --similar "password reset email never arrives"
  python -m main --apply-review output/flagged_for_review.csv
  python -m main --since last --json | jq .tickets_classified
"""


def version() -> str:
    """The project's version, from pyproject.toml beside this file."""
    try:
        text = (Path(__file__).resolve().parent / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else "unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem, instead of argparse's usage dump.
        self.exit(2, f"error: {message} (see python -m main --help)\n")


def _pages(text: str) -> int:
    from data_fetcher import MAX_SEARCH_PAGES

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


def _ticket_id(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ticket id: give a ticket number such as 169")
    return int(text)


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


def _add_commands(parser: argparse.ArgumentParser) -> None:
    """What to take or do: one of the ticket choices or one of the commands on an existing DB."""
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--pages", type=_pages, metavar="N",
                      help="search pages of resolved/closed tickets, 30 a page (1-10, Freshdesk's limit; default 5)")
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
    pick.add_argument("--consolidate", action="store_true",
                      help="look for confirmed issues of the DB that are one problem and merge them (or suggest)")
    pick.add_argument("--similar", metavar="TEXT",
                      help="print the 5 nearest confirmed issues and 3 nearest past tickets to TEXT (offline)")
    pick.add_argument("--similar-to", type=_ticket_id, metavar="TICKET_ID",
                      help="the same for a ticket already in conversations/")
    pick.add_argument("--issues", action="store_true",
                      help="print the DB's issues as a table (id, name, tickets, last 4 weeks, trend, provisional)")
    pick.add_argument("--reclean", action="store_true",
                      help="rebuild conversations/ from the raw API answers in conversations/raw/ with the "
                      "current cleaning code; no Freshdesk calls")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m main",
        description="Find the recurring problems in a Freshdesk desk: fetch resolved/closed tickets,\n"
        "clean them, and sort each into a growing issue DB.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _add_commands(parser)
    parser.add_argument("--query", metavar="CLAUSE",
                        help="extra search terms ANDed to the status filter, e.g. 'group_id:12 AND tag:billing' "
                        "(Freshdesk) or 'tags:billing' (Zendesk, with --pages)")
    add_source_arguments(parser)
    parser.add_argument("--db", "--output", dest="db", type=Path, metavar="PATH",
                        help=f"the issue DB a command reads or writes (default {DEFAULT_OUTPUT}; {DEMO_OUTPUT} "
                        "with --demo; with --apply-review, the DB the CSV's name belongs to); its CSV, report "
                        "and checkpoint live beside it. --output is the same option")
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
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("--verbose", action="store_true", help="debug logs and per-stage timings on stderr")
    loudness.add_argument("--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the tickets and say what a run would fetch and classify, with Freshdesk "
                        "credits, model calls, tokens and cost; write nothing")
    parser.add_argument("--json", action="store_true",
                        help="print the result (a run's summary, the issues, a lookup, an estimate) as one JSON "
                        "object on stdout, for scripts")
    parser.add_argument("--sort", choices=SORT_KEYS, default="tickets",
                        help="with --issues: by tickets (default), growth (last 4 weeks against the 4 before) "
                        "or recency (last ticket)")
    parser.add_argument("--top", type=_bounded_int(1, 100000), metavar="N", help="with --issues: the first N only")
    return parser


def check_combinations(args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other, in one line naming them."""
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
    if args.dry_run and (args.prompt_debug or args.demo or args.apply_review or args.merge or args.consolidate):
        raise UsageError("--dry-run estimates a Freshdesk or --from-cache run: drop --prompt-debug, --demo, "
                         "--apply-review, --merge or --consolidate")
    if (args.top is not None or args.sort != "tickets") and not args.issues:
        raise UsageError("--sort and --top order the --issues table: use them with --issues")
    if args.issues and (args.fetch_only or args.prompt_debug or args.reclassify or args.dry_run):
        raise UsageError("--issues only reads the DB: drop --fetch-only, --prompt-debug, --reclassify and --dry-run")
    if args.merge:
        args.merge = [issue_id.upper() for issue_id in args.merge]
        if args.merge[0] == args.merge[1]:
            raise UsageError(f"--merge needs two different issues, got {args.merge[0]} twice")
