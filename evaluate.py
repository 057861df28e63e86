"""Clustering quality on labelled texts: `python -m evaluate DATA [--classifier embedding|llm] [--limit N]`.

Runs the texts through a classifier in file order, as a run over tickets would, and prints NMI, ARI,
purity and the issue count against the true number of labels.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from errors import SiloError, UsageError

log = logging.getLogger(__name__)


def _contingency(labels: Sequence[Any], assigned: Sequence[Any]) -> np.ndarray:
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


def nmi(labels: Sequence[Any], assigned: Sequence[Any]) -> float:
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


def ari(labels: Sequence[Any], assigned: Sequence[Any]) -> float:
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


def purity(labels: Sequence[Any], assigned: Sequence[Any]) -> float:
    """Share of items whose issue's majority label is their own label."""
    table = _contingency(labels, assigned)
    n = table.sum()
    return float(table.max(axis=0).sum() / n) if n else 1.0


def evaluate_assignments(labels: Sequence[Any], assigned: Sequence[Any]) -> dict[str, Any]:
    """Quality of `assigned` (issue id per item) against the true `labels`."""
    return {
        "items": len(labels),
        "nmi": round(nmi(labels, assigned), 4),
        "ari": round(ari(labels, assigned), 4),
        "purity": round(purity(labels, assigned), 4),
        "issues": len(set(assigned)),
        "true_labels": len(set(labels)),
    }


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


def run_offline(vectors: np.ndarray, classifier: Any, dim: int) -> tuple[list[str], int]:
    """Issue id per vector from the offline classifier, in order, as the DB would assign them.

    Returns the assignments and the number of flagged decisions.
    """
    from embeddings import CandidateIndex

    index = CandidateIndex(dim)
    assigned: list[str] = []
    flagged = 0
    for ticket_id, vector in enumerate(vectors):
        outcome = classifier.classify(ticket_id, vector, index)
        issue_id = outcome.answer.issue_id if outcome.answer else None
        if issue_id is None:
            issue_id = f"ISS-{len(index) + 1:04d}"
            # The new issue's placeholder name carries no words: its first ticket stands for it.
            index.add_issue(issue_id, vector, provisional=False)
        index.add_member(issue_id, vector)
        assigned.append(issue_id)
        flagged += bool(outcome.flag_reason)
    return assigned, flagged


def fold_small_issues(vectors: np.ndarray, assigned: Sequence[str]) -> list[str]:
    """The assignments after the end-of-run pass that folds tiny issues into their nearest large one."""
    from embedding_classifier import plan_small_issue_folds

    rows: dict[str, list[int]] = {}
    for row, issue_id in enumerate(assigned):
        rows.setdefault(issue_id, []).append(row)
    target = {issue_id: issue_id for issue_id in rows}
    for keep, folded in plan_small_issue_folds({i: vectors[r] for i, r in rows.items()}):
        target[folded] = keep
    return [target[issue_id] for issue_id in assigned]


def evaluate_offline(
    texts: Sequence[str],
    labels: Sequence[str],
    embed: Callable[[Sequence[str]], np.ndarray],
    classifier: Any,
    fold: bool = True,
) -> dict[str, Any]:
    """Embed, classify offline in order, fold tiny issues (unless `fold` is false), and score."""
    vectors = np.asarray(embed(texts), dtype=np.float32)
    assigned, flagged = run_offline(vectors, classifier, vectors.shape[1])
    issues_online = len(set(assigned))
    if fold:
        assigned = fold_small_issues(vectors, assigned)
    result = evaluate_assignments(labels, assigned)
    result.update(
        {"flagged": flagged, "issues_before_fold": issues_online, "prompt_tokens": 0, "completion_tokens": 0}
    )
    return result


def evaluate_llm(texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """The LLM classifier's figures; the orchestrator wires the model client here."""
    raise UsageError("--classifier llm is not wired yet in evaluate: use --classifier embedding")


def format_report(result: dict[str, Any], classifier: str) -> str:
    return "\n".join(
        [
            f"classifier   {classifier}",
            f"items        {result['items']}",
            f"NMI          {result['nmi']:.4f}",
            f"ARI          {result['ari']:.4f}",
            f"purity       {result['purity']:.4f}",
            f"issues       {result['issues']} (true labels: {result['true_labels']}; "
            f"{result.get('issues_before_fold', result['issues'])} before folding tiny issues)",
            f"flagged      {result.get('flagged', 0)}",
            f"tokens       {result.get('prompt_tokens', 0) + result.get('completion_tokens', 0)} "
            f"(prompt {result.get('prompt_tokens', 0)}, completion {result.get('completion_tokens', 0)})",
        ]
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluate",
        description="Score the classifier on labelled texts (CSV text,label or JSONL utterance/intent).",
    )
    parser.add_argument("data", type=Path, help="labelled texts: a CSV with header text,label, or a JSONL")
    parser.add_argument("--classifier", choices=("embedding", "llm"), default="embedding",
                        help="embedding (default): offline nearest-issue; llm: the model")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    parser.add_argument("--threshold", type=float, default=None,
                        help="similarity threshold of the embedding classifier (default: its tuned value)")
    parser.add_argument("--no-fold", action="store_true",
                        help="skip the end-of-run pass that folds issues of <= 3 tickets into their nearest")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the figures on stdout and returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise UsageError(f"--limit {args.limit} is invalid: give a whole number of at least 1")
        if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
            raise UsageError(f"--threshold {args.threshold} is invalid: give a number from 0 to 1")
        texts, labels = load_labelled(args.data)
        if args.limit is not None:
            texts, labels = texts[: args.limit], labels[: args.limit]
        if args.classifier == "llm":
            result = evaluate_llm(texts, labels)
        else:
            from embedding_classifier import EmbeddingClassifier
            from embeddings import LocalEmbedder

            tuned = {} if args.threshold is None else {"threshold": args.threshold}
            classifier = EmbeddingClassifier(**tuned)
            result = evaluate_offline(
                texts, labels, LocalEmbedder().embed, classifier, fold=not args.no_fold
            )
    except SiloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(format_report(result, args.classifier))
    return 0


if __name__ == "__main__":
    sys.exit(main())
