"""`--dry-run`: what a run would fetch, classify and spend, from the listing, the conversation cache and the DB.

Nothing is written. Listing credits are measured (the listing calls are made); the rest is estimated:
a ticket not cached costs its conversations call, plus a ticket call when the listing lacks the
description; a ticket to classify costs the model calls and tokens the DB's previous runs averaged,
and a cached conversation's prompt is rendered to count its characters (about 4 per token).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from candidates import TOP_K
from conversation_utils import ConversationStore, transcript
from issue_clusterer import IssueDB
from prompts_config import render_messages
from records import Candidate, Conversation, JSONObject, Listed, RunRecord
from run_summary import estimated_cost

CHARS_PER_TOKEN = 4.0
DEFAULT_COMPLETION_TOKENS = 150  # a full answer (category, keywords, cause, steps, notes) when no run measured one


@dataclass(frozen=True)
class Estimate:
    """What a run would see, fetch and classify, and what it would spend; `basis` says how tokens were estimated."""

    listed: int
    to_fetch: int
    cached: int
    already_decided: int
    to_classify: int
    listing_credits: float
    fetch_credits: float
    model_calls: float
    second_looks: float
    consolidation_calls: float
    prompt_tokens: float
    completion_tokens: float
    cost: float | None
    basis: str

    def to_dict(self) -> JSONObject:
        data = asdict(self)
        for key in ("listing_credits", "fetch_credits", "model_calls", "second_looks", "consolidation_calls",
                    "prompt_tokens", "completion_tokens"):
            data[key] = round(data[key], 1)
        if data["cost"] is not None:
            data["cost"] = round(data["cost"], 4)
        return data


@dataclass(frozen=True)
class RunAverages:
    """Per-ticket and per-call figures measured by the DB's previous LLM runs (None when none): first
    answers (with their corrections), second looks and consolidation calls per ticket classified."""

    calls_per_ticket: float
    prompt_per_call: float | None
    completion_per_call: float | None
    second_looks_per_ticket: float = 0.0
    consolidation_per_ticket: float = 0.0

    @classmethod
    def from_runs(cls, runs: Iterable[RunRecord]) -> RunAverages:
        classified = calls = second = consolidation = prompt = completion = 0
        for run in runs:
            summary = run.summary
            if summary.classifier != "llm" or not summary.model_calls:
                continue
            classified += summary.tickets_classified or 0
            calls += summary.model_calls
            # Runs before second looks were counted apart had rechecks (one call each) in `reasked`.
            second += summary.second_look_calls if summary.second_look_calls is not None else summary.reasked or 0
            consolidation += summary.consolidation_calls or 0
            prompt += summary.prompt_tokens or 0
            completion += summary.completion_tokens or 0
        if not calls or not classified:
            return cls(1.0, None, None)
        first = calls - second - consolidation
        return cls(first / classified, prompt / calls, completion / calls, second / classified,
                   consolidation / classified)

    @property
    def all_calls_per_ticket(self) -> float:
        return self.calls_per_ticket + self.second_looks_per_ticket + self.consolidation_per_ticket


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
    count: Counter[str] = Counter()
    fetch_credits = 0.0
    to_price: list[Conversation | None] = []  # the tickets to classify with the model
    for item in listed:
        count["listed"] += 1
        conversation = store.get(item.ticket_id)  # missing or unreadable: the run fetches it
        if conversation is not None and item.updated_at not in (None, conversation["updated_at"]):
            conversation = None  # changed since it was cached: the run fetches it again
        if conversation is not None:
            count["cached"] += 1
        elif item.updated_at is not None:
            count["to_fetch"] += 1
            fetch_credits += item.fetch_credits
        record = db.tickets.get(item.ticket_id)
        if record is not None and (not reclassify or record.reviewed):
            count["already_decided"] += 1
        elif classify:
            count["to_classify"] += 1
            if llm:
                to_price.append(conversation)
    tokens = _model_tokens(to_price, db, max_prompt_chars)
    return Estimate(
        listed=count["listed"], to_fetch=count["to_fetch"], cached=count["cached"],
        already_decided=count["already_decided"], to_classify=count["to_classify"],
        listing_credits=listing_credits, fetch_credits=fetch_credits, model_calls=tokens.calls,
        second_looks=tokens.second_looks, consolidation_calls=tokens.consolidation,
        prompt_tokens=tokens.prompt, completion_tokens=tokens.completion,
        cost=estimated_cost(tokens.prompt, tokens.completion, price_input, price_output), basis=tokens.basis,
    )


@dataclass(frozen=True)
class _Tokens:
    calls: float
    second_looks: float
    consolidation: float
    prompt: float
    completion: float
    basis: str


def _model_tokens(conversations: list[Conversation | None], db: IssueDB, max_prompt_chars: int) -> _Tokens:
    """Model calls and tokens for these tickets: cached ones rendered, the others at the past runs' average."""
    averages = RunAverages.from_runs(db.runs)
    candidates = [issue.as_candidate(0.0) for issue in db.confirmed_issues()[:TOP_K]]
    per_ticket = averages.calls_per_ticket
    extra = averages.all_calls_per_ticket - per_ticket  # second looks and consolidation, at the average prompt
    completion = (averages.completion_per_call or DEFAULT_COMPLETION_TOKENS) * averages.all_calls_per_ticket \
        * len(conversations)
    prompt = (averages.prompt_per_call or 0.0) * extra * len(conversations)
    rendered = measured = 0
    for conversation in conversations:
        if conversation is not None:
            per_call = prompt_tokens_for(transcript(conversation, max_prompt_chars)[0], candidates)
            rendered += 1
        elif averages.prompt_per_call is not None:
            per_call = averages.prompt_per_call
            measured += 1
        else:
            per_call = prompt_tokens_for("x" * max_prompt_chars, candidates)
        prompt += per_call * per_ticket
    n = len(conversations)
    calls = averages.all_calls_per_ticket * n
    return _Tokens(calls, averages.second_looks_per_ticket * n, averages.consolidation_per_ticket * n, prompt,
                   completion, _basis(n, calls, averages, rendered, measured))


def _basis(to_price: int, calls: float, averages: RunAverages, rendered: int, measured: int) -> str:
    if not calls:
        return "no model calls"
    parts = [f"{rendered} cached conversations rendered"] if rendered else []
    if measured:
        parts.append(f"{measured} tickets at the previous runs' average prompt")
    others = to_price - rendered - measured
    if others:
        parts.append(f"{others} tickets at the transcript budget (no previous run measured one)")
    calls_basis = "previous runs' calls per ticket" if averages.prompt_per_call is not None else "1 call per ticket"
    return "; ".join(parts + [calls_basis])


def format_estimate(result: Estimate, cost_label: str | None = "Freshdesk credits") -> str:
    """A few lines for people; the last says nothing was written. `cost_label` names what the source's
    requests cost ("Zendesk requests"); None for a source without requests (an export file)."""
    spent = (f"{cost_label}: {result.listing_credits:g} spent listing, about {result.fetch_credits:g} more to fetch"
             if cost_label else None)
    lines = [
        f"Dry run: {result.listed} tickets listed; {result.to_fetch} to fetch (new or changed), "
        f"{result.cached} in the cache; {result.already_decided} already decided, {result.to_classify} to classify",
        *([spent] if spent else []),
        f"Model: about {result.model_calls:.0f} call{'' if round(result.model_calls) == 1 else 's'} "
        f"({result.second_looks:.0f} second looks, "
        f"{result.consolidation_calls:.0f} consolidation), {result.prompt_tokens:.0f} prompt + "
        f"{result.completion_tokens:.0f} completion tokens"
        + (f", about ${result.cost:.4f}" if result.cost is not None else " (set LLM_PRICE_INPUT and "
           "LLM_PRICE_OUTPUT for a cost)"),
        f"Estimated from: {result.basis}",
        "Nothing was fetched, classified or written.",
    ]
    return "\n".join(lines)
