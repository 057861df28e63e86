"""`--dry-run`: what a run would fetch, classify and spend, from the listing, the conversation cache and the DB.

Nothing is written. Listing credits are measured (the listing calls are made); the rest is estimated:
a ticket not cached costs its conversations call, plus a ticket call when the listing lacks the
description; a ticket to classify costs the model calls and tokens the DB's previous runs averaged,
and a cached conversation's prompt is rendered to count its characters (about 4 per token).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from conversation_utils import ConversationStore, transcript
from errors import SiloError
from issue_clusterer import IssueDB
from prompts_config import render_messages
from records import Candidate

CHARS_PER_TOKEN = 4.0
DEFAULT_COMPLETION_TOKENS = 150  # a full answer (category, keywords, cause, steps, notes) when no run measured one
TOP_K = 15


@dataclass(frozen=True)
class Listed:
    """One ticket a run would see: its id, its `updated_at` (None when unknown), and its fetch cost."""

    ticket_id: int
    updated_at: str | None
    fetch_credits: float


@dataclass
class Estimate:
    listed: int = 0
    to_fetch: int = 0
    cached: int = 0
    already_decided: int = 0
    to_classify: int = 0
    listing_credits: float = 0.0
    fetch_credits: float = 0.0
    model_calls: float = 0.0
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0
    cost: float | None = None
    basis: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("listing_credits", "fetch_credits", "model_calls", "prompt_tokens", "completion_tokens"):
            data[key] = round(data[key], 1)
        if data["cost"] is not None:
            data["cost"] = round(data["cost"], 4)
        return data


@dataclass(frozen=True)
class RunAverages:
    """Per-ticket and per-call figures measured by the DB's previous LLM runs (None when none)."""

    calls_per_ticket: float
    prompt_per_call: float | None
    completion_per_call: float | None

    @classmethod
    def from_runs(cls, runs: Iterable[dict[str, Any]]) -> RunAverages:
        classified = calls = prompt = completion = 0
        for run in runs:
            summary = run.get("summary") or {}
            if summary.get("classifier") != "llm" or not summary.get("model_calls"):
                continue
            classified += int(summary.get("tickets_classified") or 0)
            # Rechecks come from answers racing on a young DB; they fade as issues settle, so they
            # would inflate every later estimate.
            calls += int(summary["model_calls"]) - int(summary.get("reasked") or 0)
            prompt += int(summary.get("prompt_tokens") or 0)
            completion += int(summary.get("completion_tokens") or 0)
        if not calls or not classified:
            return cls(1.0, None, None)
        return cls(calls / classified, prompt / calls, completion / calls)


def listed_from_refs(refs: Iterable[Any]) -> list[Listed]:
    """Listing results (data_fetcher.TicketRef): search results lack the description, a call more each."""
    return [Listed(ref.id, ref.updated_at, 1.0 if "description" in ref.raw else 2.0) for ref in refs]


def prompt_tokens_for(text: str, candidates: list[Candidate]) -> float:
    """Tokens of the rendered system and user messages, at about 4 characters a token."""
    return sum(len(m["content"]) for m in render_messages(text, candidates)) / CHARS_PER_TOKEN


def estimate(
    listed: Iterable[Listed],
    *,
    store: ConversationStore,
    db: IssueDB | None,
    classify: bool,
    llm: bool,
    reclassify: bool = False,
    listing_credits: float = 0.0,
    max_prompt_chars: int = 6000,
    price_input: float | None = None,
    price_output: float | None = None,
) -> Estimate:
    """What a run over `listed` would do; `classify` False for --fetch-only, `llm` False offline."""
    db = db or IssueDB(embedding_model="")
    result = Estimate(listing_credits=listing_credits)
    averages = RunAverages.from_runs(db.runs)
    candidates = [
        Candidate(i.issue_id, i.category, list(i.keywords), i.root_cause, 0.0) for i in db.confirmed_issues()[:TOP_K]
    ]
    budget_tokens = prompt_tokens_for("x" * max_prompt_chars, candidates)
    rendered = measured = 0
    for item in listed:
        result.listed += 1
        conversation = _load(store, item.ticket_id)
        if conversation is not None and item.updated_at not in (None, conversation["updated_at"]):
            conversation = None  # changed since it was cached: the run fetches it again
        if conversation is not None:
            result.cached += 1
        elif item.updated_at is not None:
            result.to_fetch += 1
            result.fetch_credits += item.fetch_credits
        record = db.tickets.get(item.ticket_id)
        if record is not None and (not reclassify or record.reviewed):
            result.already_decided += 1
            continue
        if not classify:
            continue
        result.to_classify += 1
        if not llm:
            continue
        result.model_calls += averages.calls_per_ticket
        if conversation is not None:
            text, _ = transcript(conversation, max_prompt_chars)
            per_call = prompt_tokens_for(text, candidates)
            rendered += 1
        elif averages.prompt_per_call is not None:
            per_call = averages.prompt_per_call
            measured += 1
        else:
            per_call = budget_tokens
        result.prompt_tokens += per_call * averages.calls_per_ticket
        completion = averages.completion_per_call or DEFAULT_COMPLETION_TOKENS
        result.completion_tokens += completion * averages.calls_per_ticket
    if price_input is not None and price_output is not None:
        result.cost = (result.prompt_tokens * price_input + result.completion_tokens * price_output) / 1e6
    result.basis = _basis(result, averages, rendered, measured)
    return result


def _load(store: ConversationStore, ticket_id: int) -> Any:
    try:
        return store.load(ticket_id)
    except (OSError, SiloError):  # missing or unreadable: the run fetches it
        return None


def _basis(result: Estimate, averages: RunAverages, rendered: int, measured: int) -> str:
    if not result.model_calls:
        return "no model calls"
    parts = [f"{rendered} cached conversations rendered"] if rendered else []
    if measured:
        parts.append(f"{measured} tickets at the previous runs' average prompt")
    others = result.to_classify - rendered - measured
    if others:
        parts.append(f"{others} tickets at the transcript budget (no previous run measured one)")
    calls = "previous runs' calls per ticket" if averages.prompt_per_call is not None else "1 call per ticket"
    return "; ".join(parts + [calls])


def format_estimate(result: Estimate) -> str:
    """A few lines for people; the last says nothing was written."""
    lines = [
        f"Dry run: {result.listed} tickets listed; {result.to_fetch} to fetch (new or changed), "
        f"{result.cached} in the cache; {result.already_decided} already decided, {result.to_classify} to classify",
        f"Freshdesk credits: {result.listing_credits:g} spent listing, about {result.fetch_credits:g} more to fetch",
        f"Model: about {result.model_calls:.0f} calls, {result.prompt_tokens:.0f} prompt + "
        f"{result.completion_tokens:.0f} completion tokens"
        + (f", about ${result.cost:.4f}" if result.cost is not None else " (set LLM_PRICE_INPUT and "
           "LLM_PRICE_OUTPUT for a cost)"),
        f"Estimated from: {result.basis}",
        "Nothing was fetched, classified or written.",
    ]
    return "\n".join(lines)
