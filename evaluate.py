"""Grouping quality on labelled data: `python -m evaluate DATA [--classifier embedding|llm] [--recall]`.

DATA is a desk from ../shared/data (its resolved tickets go through the real cleaning and classify
stages in `updated_at` order, as `--since` would take them) or labelled texts. Prints NMI, ARI,
purity, issues against true problems, extra confident issues, calls and tokens, candidate recall, and
the true problems split across most issues and the issues that mix most problems, by name.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from errors import SiloError, UsageError
from records import Conversation, JSONObject, RunStats

if TYPE_CHECKING:
    from decider import Decider
    from embeddings import EmbeddingCache

log = logging.getLogger(__name__)


def _contingency(labels: Sequence[Hashable], assigned: Sequence[Hashable]) -> np.ndarray:
    if len(labels) != len(assigned):
        raise ValueError(f"{len(labels)} labels but {len(assigned)} assignments")
    _, truth = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    _, found = np.unique(np.asarray(assigned, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((truth.max(initial=-1) + 1, found.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (truth, found), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(labels: Sequence[Hashable], assigned: Sequence[Hashable]) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (sklearn's default)."""
    table = _contingency(labels, assigned)
    rows, cols = table.shape
    if rows == cols and rows <= 1:  # one class and one cluster (or nothing): identical partitions
        return 1.0
    n = table.sum()
    joint = table[table > 0] / n
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))[table > 0] / (n * n)
    mutual = float((joint * np.log(joint / outer)).sum())
    mean_entropy = (_entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0))) / 2
    if mutual <= 0 or mean_entropy <= 0:
        return 0.0
    return min(1.0, mutual / mean_entropy)


def ari(labels: Sequence[Hashable], assigned: Sequence[Hashable]) -> float:
    """Adjusted Rand index: pair agreement corrected for chance (1 = identical, ~0 = random)."""
    table = _contingency(labels, assigned)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) // 2).sum())

    n = int(table.sum())
    total = n * (n - 1) / 2
    both = pairs(table)
    truth, found = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = truth * found / total if total else 0.0
    best = (truth + found) / 2
    if best == expected:  # both partitions trivial in the same way: nothing to correct for
        return 1.0
    return (both - expected) / (best - expected)


def purity(labels: Sequence[Hashable], assigned: Sequence[Hashable]) -> float:
    """Share of items whose issue's majority label is their own label."""
    table = _contingency(labels, assigned)
    n = table.sum()
    return float(table.max(axis=0).sum() / n) if n else 1.0


def evaluate_assignments(labels: Sequence[Hashable], assigned: Sequence[Hashable],
                         confident: Sequence[bool] | None = None) -> dict[str, float | int]:
    """Quality of `assigned` (issue id per item) against the true `labels`; with `confident` (per item: in
    a confirmed issue), also the extra confident issues: confirmed issues beyond the true problems they hold."""
    result: dict[str, float | int] = {
        "items": len(labels),
        "nmi": round(nmi(labels, assigned), 4),
        "ari": round(ari(labels, assigned), 4),
        "purity": round(purity(labels, assigned), 4),
        "issues": len(set(assigned)),
        "true_labels": len(set(labels)),
    }
    if confident is not None:
        kept = [(label, issue) for label, issue, sure in zip(labels, assigned, confident, strict=True) if sure]
        result["extra_confident_issues"] = len({i for _, i in kept}) - len({label for label, _ in kept})
    return result


def breakdown(labels: Sequence[str], assigned: Sequence[str], names: dict[str, str],
              top: int = 10) -> tuple[list[str], list[str]]:
    """Lines naming the true problems split across most issues, and the issues that mix most problems."""
    issues_of: dict[str, Counter[str]] = {}
    labels_of: dict[str, Counter[str]] = {}
    for label, issue in zip(labels, assigned, strict=True):
        issues_of.setdefault(label, Counter())[issue] += 1
        labels_of.setdefault(issue, Counter())[label] += 1
    split = sorted((label for label, c in issues_of.items() if len(c) > 1), key=lambda x: (-len(issues_of[x]), x))
    mixed = sorted((issue for issue, c in labels_of.items() if len(c) > 1), key=lambda x: (-len(labels_of[x]), x))
    split_lines = [f"{label}: {len(issues_of[label])} issues ("
                   + ", ".join(f"{i} {names.get(i, '')!r} {n}" for i, n in issues_of[label].most_common()) + ")"
                   for label in split[:top]]
    mixed_lines = [f"{issue} {names.get(issue, '')!r}: {len(labels_of[issue])} problems ("
                   + ", ".join(f"{label} {n}" for label, n in labels_of[issue].most_common()) + ")"
                   for issue in mixed[:top]]
    return split_lines, mixed_lines


def candidate_recall(vectors: np.ndarray, labels: Sequence[str], ks: Sequence[int]) -> dict[int, float]:
    """Share of items whose true issue is among the top-k candidates, over a DB growing in file order.

    Each label's issue is created by its first item (that item's vector stands for the issue's text)
    and grows by every later item, as the classify stage's candidate index does.
    """
    from embeddings import CandidateIndex

    index = CandidateIndex(vectors.shape[1])
    hits = dict.fromkeys(ks, 0)
    asked = 0
    for vector, label in zip(vectors, labels, strict=True):
        if label in index:
            asked += 1
            ranked = [issue_id for issue_id, _ in index.top_k(vector, max(ks))]
            for k in ks:
                hits[k] += label in ranked[:k]
        else:
            index.add_issue(label, vector, provisional=False)
        index.add_member(label, vector)
    return {k: round(hits[k] / asked, 4) if asked else 1.0 for k in ks}


def load_data(path: Path) -> tuple[list[Conversation], list[str]]:
    """Conversations and their true labels: a desk from ../shared/data (through the real cleaner), or
    labelled texts (one-message conversations)."""
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            desk = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            desk = None
        if isinstance(desk, dict) and "tickets" in desk and "truth" in desk:
            return load_desk(desk)
    texts, labels = load_labelled(path)
    return as_conversations(texts), labels


def load_desk(desk: JSONObject) -> tuple[list[Conversation], list[str]]:
    """A desk's resolved and closed tickets in `updated_at` order (as `--since` takes them), cleaned."""
    from conversation_utils import clean_conversation

    truth = desk["truth"]
    tickets = [t for t in desk["tickets"] if t.get("status") in (4, 5) and str(t["id"]) in truth]
    tickets.sort(key=lambda t: (str(t["updated_at"]), int(t["id"])))
    conversations = [clean_conversation(t, t.get("conversations") or [], "") for t in tickets]
    return conversations, [str(truth[str(t["id"])]) for t in tickets]


def load_labelled(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels from a `text,label` CSV with a header, or a JSONL of `utterance`/`intent`."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read {path}: {reason}; give a CSV (text,label) or a JSONL file") from None
    if path.suffix.lower() in (".jsonl", ".json"):
        texts, labels = _from_jsonl(path, raw)
    else:
        texts, labels = _from_csv(path, raw)
    if not texts:
        raise UsageError(f"{path} holds no labelled texts: add rows of text and label")
    return texts, labels


def _from_jsonl(path: Path, raw: str) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = row.get("utterance", row.get("text"))
            label = row.get("intent", row.get("label"))
        except (json.JSONDecodeError, AttributeError):
            raise UsageError(f"{path} line {number} is not a JSON object: fix or remove it") from None
        if not isinstance(text, str) or not text.strip() or label in (None, ""):
            raise UsageError(f"{path} line {number} lacks an utterance/text or an intent/label: fix it")
        texts.append(text)
        labels.append(str(label))
    return texts, labels


def _from_csv(path: Path, raw: str) -> tuple[list[str], list[str]]:
    reader = csv.DictReader(raw.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "text" not in fields or "label" not in fields:
        raise UsageError(f"{path} needs a header with columns text and label (found {fields or 'none'})")
    reader.fieldnames = fields
    texts, labels = [], []
    for number, row in enumerate(reader, start=2):
        text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
        if not text or not label:
            raise UsageError(f"{path} line {number} lacks a text or a label: fix or remove it")
        texts.append(text)
        labels.append(label)
    return texts, labels


def as_conversations(texts: Sequence[str]) -> list[Conversation]:
    """Labelled texts as one-message conversations, ticket ids 1..n in file order."""
    return [
        {
            "ticket_id": number,
            "subject": "",
            "status": 4,
            "created_at": "",
            "updated_at": "",
            "url": "",
            "messages": [{"speaker": "user", "text": text, "private": False, "incoming": True, "created_at": ""}],
        }
        for number, text in enumerate(texts, start=1)
    ]


@dataclass(frozen=True)
class Classified:
    """Each item's issue, whether that issue is confirmed, the issues' names, and the run's counts."""

    assigned: list[str]
    confident: list[bool]
    names: dict[str, str]
    stats: RunStats


def classify_conversations(conversations: Sequence[Conversation], embedder: EmbeddingCache,
                           decider: Decider) -> Classified:
    """Run conversations through the same classify stage as a run (in-memory DB), finish included."""
    from candidates import IssueIndex
    from clock import now_iso
    from decider import FinishedRun
    from issue_clusterer import IssueDB
    from pipeline import ClassifyConfig, ClassifyLoop

    by_id = {c["ticket_id"]: c for c in conversations}
    db = IssueDB(embedding_model=embedder.model_id)
    index = IssueIndex(db, embedder.embed, embedder.dim, text_from_first_ticket=not decider.describes_issues,
                       offers=decider.offers)
    loop = ClassifyLoop(db, index, decider, config=ClassifyConfig(), checkpoint=lambda _db: None)
    stats = loop.run(conversations)
    decider.finish(FinishedRun(db, index, stats, by_id.get, now_iso))
    assigned = [db.tickets[c["ticket_id"]].issue_id for c in conversations]
    return Classified(assigned, [not db.issues[i].provisional for i in assigned],
                      {i: issue.category for i, issue in db.issues.items()}, stats)


def _embedder() -> EmbeddingCache:
    from embeddings import EmbeddingCache, LocalEmbedder

    return EmbeddingCache(Path(".cache") / "embeddings", LocalEmbedder())


def score(conversations: Sequence[Conversation], labels: Sequence[str], decider: Decider) -> dict[str, float | int]:
    """The figures of one classifier over labelled conversations."""
    embedder = _embedder()
    classified = classify_conversations(conversations, embedder, decider)
    embedder.flush()
    result = evaluate_assignments(labels, classified.assigned, classified.confident)
    stats = classified.stats
    result.update(flagged=stats.flagged, model_calls=stats.model_calls, second_look_calls=stats.second_look_calls,
                  consolidation_calls=stats.consolidation_calls, prompt_tokens=stats.prompt_tokens,
                  completion_tokens=stats.completion_tokens)
    split, mixed = breakdown(labels, classified.assigned, classified.names)
    return {**result, "split": split, "mixed": mixed}  # type: ignore[dict-item]


def offline_decider(threshold: float | None = None) -> Decider:
    from embedding_classifier import DEFAULT_THRESHOLD, EmbeddingClassifier

    return EmbeddingClassifier(DEFAULT_THRESHOLD if threshold is None else threshold)


def llm_decider(concurrency: int = 8) -> Decider:
    """The LLM classifier on the LLM_* settings from the environment or .env."""
    import os

    from env import load_settings
    from llm_classifier import LLMClassifier
    from llm_client import LLMClient
    from redact import redact_text

    settings = load_settings(os.environ)
    llm = settings.llm()
    return LLMClassifier(LLMClient(llm.base_url, llm.api_key, llm.model), threshold=settings.confidence_threshold,
                         concurrency=concurrency, redact=redact_text)


def format_report(result: dict, classifier: str) -> str:
    """The figures for a person tuning a prompt or a threshold."""
    extra = (f"; extra confident issues: {result['extra_confident_issues']}"
             if "extra_confident_issues" in result else "")
    lines = [
        f"classifier   {classifier}",
        f"items        {result['items']}",
        f"NMI          {result['nmi']:.4f}",
        f"ARI          {result['ari']:.4f}",
        f"purity       {result['purity']:.4f}",
        f"issues       {result['issues']} (true labels: {result['true_labels']}{extra})",
        f"flagged      {result.get('flagged', 0)}",
        f"calls        {result.get('model_calls', 0)} ({result.get('second_look_calls', 0)} second looks, "
        f"{result.get('consolidation_calls', 0)} consolidation)",
        f"tokens       {result.get('prompt_tokens', 0) + result.get('completion_tokens', 0)} "
        f"(prompt {result.get('prompt_tokens', 0)}, completion {result.get('completion_tokens', 0)})",
    ]
    for title, key in (("split        the true problems split across most issues:", "split"),
                       ("mixed        the issues that mix most problems:", "mixed")):
        if result.get(key):
            lines.append(title)
            lines.extend(f"  {line}" for line in result[key])
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description="Score the classifier on labelled data: a desk file from ../shared/data (its tickets go "
        "through the real cleaning and classify stages), a CSV text,label, or a JSONL utterance/intent.",
    )
    parser.add_argument("data", type=Path, help="a desk JSON, a CSV with header text,label, or a JSONL")
    parser.add_argument("--classifier", choices=("embedding", "llm"), default="embedding",
                        help="embedding (default): offline; llm: the model of the LLM_* settings")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N tickets or texts")
    parser.add_argument("--threshold", type=float, default=None,
                        help="similarity threshold of the embedding classifier (default: its tuned value)")
    parser.add_argument("--recall", action="store_true",
                        help="also print candidate recall@5/8/10/15: is the true issue among the candidates?")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the figures on stdout and returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise UsageError(f"--limit {args.limit} is invalid: give a whole number of at least 1")
        if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
            raise UsageError(f"--threshold {args.threshold} is invalid: give a number from 0 to 1")
        conversations, labels = load_data(args.data)
        if args.limit is not None:
            conversations, labels = conversations[: args.limit], labels[: args.limit]
        decider = llm_decider() if args.classifier == "llm" else offline_decider(args.threshold)
        result = score(conversations, labels, decider)
    except SiloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(format_report(result, args.classifier))
    if args.recall:
        from candidates import TOP_K
        from conversation_utils import problem_statement

        vectors = _embedder().embed([problem_statement(c) for c in conversations])
        recall = candidate_recall(vectors, labels, sorted({5, 8, 10, TOP_K}))
        print("recall       " + ", ".join(f"@{k} {value:.4f}" for k, value in recall.items())
              + f" (the pipeline offers {TOP_K})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
