"""The run summary: what a run did, stored in the DB and printed at the end."""

from __future__ import annotations

from records import RunStats, RunSummary

# What a source's requests are counted in, as the summary and --dry-run print them; files and the demo
# cost nothing. A summary without a source was recorded before there were others: Freshdesk.
COST_LABELS = {"freshdesk": "Freshdesk credits", "zendesk": "Zendesk requests"}


def cost_label(source: str | None) -> str | None:
    """The label of a source's spending ("Freshdesk credits", "Zendesk requests"); None when it makes no requests."""
    return COST_LABELS.get(source or "freshdesk")


def estimated_cost(prompt_tokens: float, completion_tokens: float,
                   price_input: float | None, price_output: float | None) -> float | None:
    """Dollars for the tokens at the prices per million (`LLM_PRICE_*`), or None without both prices."""
    if price_input is None or price_output is None:
        return None
    return (prompt_tokens * price_input + completion_tokens * price_output) / 1e6


def build_summary(
    *,
    started_at: str,
    finished_at: str,
    seconds: float,
    classifier: str,
    listed: int,
    fetched: int,
    cached: int,
    stats: RunStats | None,
    credits: float,
    price_input: float | None,
    price_output: float | None,
    source: str | None = None,
) -> RunSummary:
    """The summary of a run; `stats` is the classify stage's (None for --fetch-only)."""
    summary = RunSummary(
        started_at=started_at,
        finished_at=finished_at,
        seconds=round(seconds, 1),
        classifier=classifier,
        tickets_seen=listed,
        tickets_fetched=fetched,
        tickets_cached=cached,
        credits=round(credits, 2),
        source=source,
    )
    if stats is None:
        return summary
    # "Grew" means issues that existed before this run; new ones are listed as new.
    new = set(stats.new_issue_ids)
    grown = sorted(((i, n) for i, n in stats.grown.items() if i not in new), key=lambda item: (-item[1], item[0]))
    summary.tickets_skipped = stats.tickets_skipped
    summary.tickets_classified = stats.tickets_classified
    summary.issues_created = stats.issues_created
    summary.issues_grown = len(grown)
    summary.flagged = stats.flagged
    summary.model_calls = stats.model_calls
    summary.prompt_tokens = stats.prompt_tokens
    summary.completion_tokens = stats.completion_tokens
    summary.reasked = stats.reasked
    summary.second_look_calls = stats.second_look_calls
    summary.consolidation_calls = stats.consolidation_calls
    summary.consolidated = stats.consolidated
    summary.merge_suggestions = stats.merge_suggestions
    summary.trimmed = stats.trimmed
    summary.new_issue_ids = list(stats.new_issue_ids)
    summary.grown_issue_ids = grown[:10]
    cost = estimated_cost(stats.prompt_tokens, stats.completion_tokens, price_input, price_output)
    if cost is not None:
        summary.estimated_cost = round(cost, 4)
    return summary


def format_summary(summary: RunSummary, paths: dict[str, str]) -> str:
    """A few lines for people, ending with where the results are."""
    tickets = (f"Tickets: {summary.tickets_seen} seen, {summary.tickets_fetched} fetched, "
               f"{summary.tickets_cached} from cache")
    lines = [tickets]
    if summary.classified:
        lines[0] += f", {summary.tickets_skipped} already decided, {summary.tickets_classified} classified"
        lines.append(
            f"Issues: {summary.issues_created} new, {summary.issues_grown} grew; "
            f"{summary.flagged} decision{'' if summary.flagged == 1 else 's'} flagged for review"
        )
        tokens = f"{summary.prompt_tokens} prompt + {summary.completion_tokens} completion tokens"
        cost = f", about ${summary.estimated_cost:.4f}" if summary.estimated_cost is not None else ""
        kinds = f" ({summary.second_look_calls} second looks, {summary.consolidation_calls} consolidation)" \
            if summary.second_look_calls or summary.consolidation_calls else ""
        lines.append(f"Model: {summary.model_calls} calls{kinds}, {tokens}{cost}")
        if summary.consolidated or summary.merge_suggestions:
            lines.append(f"Consolidation: {summary.consolidated} issues merged into older ones; "
                         f"{summary.merge_suggestions} merge suggestions for review")
    spent = cost_label(summary.source)
    lines.append(f"{spent}: {summary.credits:g}; time {summary.seconds:g} s" if spent
                 else f"Time: {summary.seconds:g} s")
    lines.extend(f"{label}: {path}" for label, path in paths.items())
    return "\n".join(lines)
