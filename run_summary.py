"""The run summary: what a run did, stored in the DB and printed at the end."""

from __future__ import annotations

from typing import Any


def build_summary(
    *,
    started_at: str,
    finished_at: str,
    seconds: float,
    classifier: str,
    listed: int,
    fetched: int,
    cached: int,
    stats: Any | None,
    credits: float,
    price_input: float | None,
    price_output: float | None,
) -> dict[str, Any]:
    """A JSON-ready summary; `stats` is the classify stage's RunStats (None for --fetch-only)."""
    summary: dict[str, Any] = {
        "started_at": started_at,
        "finished_at": finished_at,
        "seconds": round(seconds, 1),
        "classifier": classifier,
        "tickets_seen": listed,
        "tickets_fetched": fetched,
        "tickets_cached": cached,
        "credits": round(credits, 2),
    }
    if stats is not None:
        # "Grew" means issues that existed before this run; new ones are listed as new.
        new = set(stats.new_issue_ids)
        grown = sorted(((i, n) for i, n in stats.grown.items() if i not in new), key=lambda item: (-item[1], item[0]))
        summary.update(
            tickets_skipped=stats.tickets_skipped,
            tickets_classified=stats.tickets_classified,
            issues_created=stats.issues_created,
            issues_grown=len(grown),
            flagged=stats.flagged,
            model_calls=stats.model_calls,
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            reasked=stats.reasked,
            trimmed=stats.trimmed,
            new_issue_ids=list(stats.new_issue_ids),
            grown_issue_ids=[[issue_id, count] for issue_id, count in grown[:10]],
        )
        if price_input is not None and price_output is not None:
            cost = stats.prompt_tokens * price_input / 1e6 + stats.completion_tokens * price_output / 1e6
            summary["estimated_cost"] = round(cost, 4)
    return summary


def format_summary(summary: dict[str, Any], paths: dict[str, str]) -> str:
    """A few lines for people, ending with where the results are."""
    lines = [
        f"Tickets: {summary.get('tickets_seen', 0)} seen, {summary.get('tickets_fetched', 0)} fetched, "
        f"{summary.get('tickets_cached', 0)} from cache"
        + (f", {summary['tickets_skipped']} already decided" if "tickets_skipped" in summary else "")
        + (f", {summary['tickets_classified']} classified" if "tickets_classified" in summary else ""),
    ]
    if "issues_created" in summary:
        lines.append(
            f"Issues: {summary['issues_created']} new, {summary['issues_grown']} grew; "
            f"{summary['flagged']} decisions flagged for review"
        )
        tokens = f"{summary['prompt_tokens']} prompt + {summary['completion_tokens']} completion tokens"
        cost = f", about ${summary['estimated_cost']:.4f}" if "estimated_cost" in summary else ""
        lines.append(f"Model: {summary['model_calls']} calls, {tokens}{cost}")
    lines.append(f"Freshdesk credits: {summary.get('credits', 0):g}; time {summary.get('seconds', 0):g} s")
    lines.extend(f"{label}: {path}" for label, path in paths.items())
    return "\n".join(lines)
