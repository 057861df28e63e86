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
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from errors import SiloError, UsageError
from records import Conversation

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


def evaluate_assignments(labels: Sequence[Hashable], assigned: Sequence[Hashable]) -> dict[str, float | int]:
    """Quality of `assigned` (issue id per item) against the true `labels`."""
    return {
        "items": len(labels),
        "nmi": round(nmi(labels, assigned), 4),
        "ari": round(ari(labels, assigned), 4),
        "purity": round(purity(labels, assigned), 4),
        "issues": len(set(assigned)),
        "true_labels": len(set(labels)),
    }


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


def classify_texts(
    texts: Sequence[str],
    embedder: EmbeddingCache,
    decider: Decider,
) -> tuple[list[str], dict[str, int]]:
    """Run texts through the same classify stage as a run (in-memory DB) and return each one's issue."""
    from candidates import IssueIndex
    from clock import now_iso
    from decider import FinishedRun
    from issue_clusterer import IssueDB
    from pipeline import ClassifyConfig, ClassifyLoop

    conversations = {c["ticket_id"]: c for c in as_conversations(texts)}
    db = IssueDB(embedding_model=embedder.model_id)
    index = IssueIndex(db, embedder.embed, embedder.dim, text_from_first_ticket=not decider.describes_issues)
    loop = ClassifyLoop(db, index, decider, config=ClassifyConfig(), checkpoint=lambda _db: None)
    stats = loop.run(conversations.values())
    issues_before_finish = len(db.issues)
    decider.finish(FinishedRun(db, index, stats, conversations.get, now_iso))
    assigned = [db.tickets[number].issue_id for number in range(1, len(texts) + 1)]
    extra = {
        "flagged": stats.flagged,
        "issues_before_fold": issues_before_finish,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "model_calls": stats.model_calls,
    }
    return assigned, extra


def _embedder() -> EmbeddingCache:
    from embeddings import EmbeddingCache, LocalEmbedder

    return EmbeddingCache(Path(".cache") / "embeddings", LocalEmbedder())


def _scored(texts: Sequence[str], labels: Sequence[str], decider: Decider) -> dict[str, float | int]:
    embedder = _embedder()
    assigned, extra = classify_texts(texts, embedder, decider)
    embedder.flush()
    result = evaluate_assignments(labels, assigned)
    result.update(extra)
    return result


def evaluate_offline(texts: Sequence[str], labels: Sequence[str], threshold: float | None = None,
                     fold: bool = True) -> dict[str, float | int]:
    """The offline classifier's figures, through the real classify stage."""
    from embedding_classifier import DEFAULT_THRESHOLD, EmbeddingClassifier

    classifier = EmbeddingClassifier(DEFAULT_THRESHOLD if threshold is None else threshold, fold=fold)
    return _scored(texts, labels, classifier)


def evaluate_llm(texts: Sequence[str], labels: Sequence[str], concurrency: int = 8) -> dict[str, float | int]:
    """The LLM classifier's figures (LLM_* settings from the environment or .env)."""
    import os

    from env import load_settings
    from llm_classifier import LLMClassifier
    from llm_client import LLMClient

    settings = load_settings(os.environ)
    llm = settings.llm()
    classifier = LLMClassifier(LLMClient(llm.base_url, llm.api_key, llm.model),
                               threshold=settings.confidence_threshold, concurrency=concurrency)
    return _scored(texts, labels, classifier)


def format_report(result: dict[str, float | int], classifier: str) -> str:
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
    parser.add_argument("--recall", action="store_true",
                        help="also print candidate recall@5/8/10/15: is the true issue among the candidates?")
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
            result = evaluate_offline(texts, labels, args.threshold, fold=not args.no_fold)
    except SiloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(format_report(result, args.classifier))
    if args.recall:
        from candidates import TOP_K as DEFAULT_TOP_K

        recall = candidate_recall(_embedder().embed(texts), labels, sorted({5, 8, 10, DEFAULT_TOP_K}))
        print("recall       " + ", ".join(f"@{k} {value:.4f}" for k, value in recall.items())
              + f" (the pipeline offers {DEFAULT_TOP_K})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
