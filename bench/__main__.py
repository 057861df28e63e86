"""Run the whole pipeline (`python -m main --since ...` as a subprocess, real local embedder) against a fake
Freshdesk and a fake model on 127.0.0.1, for several desk sizes, and print what it costs.

The fake Freshdesk enforces a credit limit per window; "scaled" windows (e.g. 400 credits per 6 s instead of
per 60 s) keep the runs short, and the lower bound is computed with the same scaling.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_freshdesk import _TOPICS, FakeFreshdesk, make_desk  # noqa: E402
from tests.fake_openai import FakeOpenAI, candidates_in, ticket_in  # noqa: E402

END = datetime(2026, 11, 20, tzinfo=timezone.utc)
KEY = "bench-freshdesk-key"
AREAS = ["invoice PDF", "CSV export", "SSO login", "mobile app", "webhook delivery", "calendar sync",
         "API token", "team invitation", "dashboard chart", "email notification", "search index", "file upload",
         "two-factor login", "billing portal", "audit log", "data import", "Slack integration", "custom field",
         "report scheduler", "password reset", "user role editor", "time tracking", "Zapier connector",
         "SLA timer", "chat widget"]
SYMPTOMS = ["times out", "shows a blank page", "returns error 500", "sends duplicates", "loses data",
            "is very slow", "uses the wrong timezone", "fails after the update", "rejects valid input",
            "logs users out", "shows wrong totals", "stopped syncing", "crashes on open", "cannot be saved",
            "shows garbled characters", "ignores permissions"]


# ----------------------------------------------------------------------------------------- the desk

def problems(count: int, seed: int) -> list[tuple[str, str, str]]:
    """`count` distinct (subject, problem sentence, answer sentence) triples."""
    pairs = [(a, s) for a in AREAS for s in SYMPTOMS]
    random.Random(seed).shuffle(pairs)
    out = []
    for area, symptom in pairs[:count]:
        subject = f"{area[0].upper()}{area[1:]} {symptom}"
        problem = (f"Since this morning the {area} {symptom} for several people on our team; we tried two "
                   f"browsers and a fresh login and the {area} still {symptom}.")
        answer = f"We found why the {area} {symptom}: a configuration fix is now live on your account."
        out.append((subject, problem, answer))
    return out


def bench_desk(n: int, seed: int = 7) -> tuple[list[dict], dict[int, str]]:
    """`n` resolved tickets over max(10, n/25) problems (capped at 400) with a Zipf-like spread."""
    desk = make_desk(n, seed=seed, open_fraction=0.0, long_threads=0.03, end=END, days=365)
    chosen = problems(min(len(AREAS) * len(SYMPTOMS), max(10, n // 25)), seed)
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(chosen))]
    truth = {}
    originals = {subject: (problem, answer) for subject, problem, answer in _TOPICS}
    for thread in desk:
        subject, problem, answer = chosen[rng.choices(range(len(chosen)), weights=weights)[0]]
        ticket = thread["ticket"]
        old_problem, old_answer = originals[ticket["subject"]]
        ticket["subject"] = subject
        ticket["description"] = ticket["description"].replace(html.escape(old_problem), html.escape(problem))
        ticket["description_text"] = ticket["description_text"].replace(old_problem, problem)
        for conversation in thread["conversations"]:
            for old, new in ((old_problem, problem), (old_answer, answer)):
                conversation["body"] = conversation["body"].replace(html.escape(old), html.escape(new))
                conversation["body_text"] = conversation["body_text"].replace(old, new)
        truth[ticket["id"]] = subject
    return desk, truth


# ----------------------------------------------------------------------------------------- the model

class Oracle:
    """Answers the candidate named like the ticket's subject, else null naming it; records prompt sizes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.prompt_tokens: dict[int, int] = {}
        self.calls = 0

    def __call__(self, request: dict) -> str:
        text = ticket_in(request)
        subject = re.search(r"Subject: (.*)", text).group(1).strip()
        marker = re.search(r"marker-(\d+)-0", text)
        prompt = "".join(str(m.get("content") or "") for m in request.get("messages", []))
        with self.lock:
            self.calls += 1
            if marker:
                ticket_id = int(marker.group(1))
                # The fake server's own count (characters / 4), summed over a ticket's calls.
                self.prompt_tokens[ticket_id] = self.prompt_tokens.get(ticket_id, 0) + len(prompt) // 4
        known = [c["issue_id"] for c in candidates_in(request) if c["category"] == subject]
        return json.dumps({
            "issue_id": known[0] if known else None, "category": subject,
            "keywords": subject.lower().split()[:5], "root_cause": f"Root cause of {subject.lower()}.",
            "resolution_steps": ["Apply the configuration fix.", "Confirm with the customer."],
            "confidence": 0.93, "notes": "benchmark oracle",
        })


# ----------------------------------------------------------------------------------------- one run

def run_size(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    desk, truth = bench_desk(n)
    tickets = sorted((thread["ticket"] for thread in desk), key=lambda t: (t["updated_at"], t["id"]))
    order = [ticket["id"] for ticket in tickets]
    oracle = Oracle()
    wall, peak_kb, credits, throttled, stdout = _run_cli(n, desk, oracle, args, workdir)
    return _figures(n, truth, order, oracle, args, workdir, wall=wall, peak_kb=peak_kb, credits=credits,
                    throttled=throttled, stdout=stdout)


def _run_cli(n: int, desk: list[dict], oracle: Oracle, args: argparse.Namespace,
             workdir: Path) -> tuple[float, int, float, int, str]:
    """One CLI run over the desk: wall seconds, peak RSS (kB), Freshdesk credits and 429s, stdout."""
    with FakeFreshdesk(desk, api_key=KEY, rate_limit=args.rate_limit, window_seconds=args.window,
                       latency=args.freshdesk_latency, now=END) as freshdesk, \
            FakeOpenAI(responder=oracle, latency=args.model_latency) as model:
        workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "EMBEDDING_", "FRESHDESK_"))}
        env.update(PYTHONPATH=str(ROOT), FRESHDESK_DOMAIN=freshdesk.url, FRESHDESK_API_KEY=KEY,
                   LLM_API_BASE_URL=model.base_url, LLM_API_KEY="bench-model-key", LLM_MODEL="oracle")
        command = [sys.executable, "-m", "main", "--since", "2020-01-01", "--concurrency", str(args.concurrency),
                   "--batch-size", str(args.batch_size), "--classifier", args.classifier, "--verbose"]
        stderr_path = workdir / "stderr.log"
        started = time.monotonic()
        with open(stderr_path, "w") as stderr:
            process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=stderr)
            peak = _PeakRss(process.pid)
            stdout = process.stdout.read().decode() if process.stdout else ""
            process.wait()
        wall = time.monotonic() - started
        peak.stop()
        if process.returncode != 0:
            tail = stderr_path.read_text()[-2000:]
            raise SystemExit(f"run of {n} tickets failed ({process.returncode}):\n{tail}")
        credits = freshdesk.credits_charged
        throttled = freshdesk.throttled
    return wall, peak.kb, credits, throttled, stdout


def _figures(n: int, truth: dict[int, str], order: list[int], oracle: Oracle, args: argparse.Namespace,
             workdir: Path, *, wall: float, peak_kb: int, credits: float, throttled: int,
             stdout: str) -> dict[str, Any]:
    """What the run cost and how well it grouped, from the DB it wrote and the fakes' counts."""
    stderr_path = workdir / "stderr.log"
    db = json.loads((workdir / "output" / "silo_issues_db.json").read_text())
    summary = db["runs"][-1]["summary"]
    stages = _stage_times(stderr_path.read_text())
    per_ticket = [oracle.prompt_tokens.get(t, 0) for t in order if t in oracle.prompt_tokens]
    rate = args.rate_limit / args.window  # credits per second, as scaled
    bound_fetch = credits / rate
    calls = summary.get("model_calls", 0)  # every kind: the oracle sees only the ticket prompts
    bound_model = calls * args.model_latency / args.concurrency
    bound = max(bound_fetch, bound_model)
    issues = len(db["issues"])
    problems_of = [{truth[t] for t in issue["ticket_ids"]} for issue in db["issues"]]
    issues_of = Counter(problem for problems_here in problems_of for problem in problems_here)
    return {
        "tickets": n,
        "classified": summary["tickets_classified"],
        "wall_s": round(wall, 1),
        "tickets_per_min": round(n / wall * 60),
        "credits_per_ticket": round(credits / n, 3),
        "throttled_429": throttled,
        "model_calls_per_ticket": round(calls / n, 3),
        # Split by kind: first answers (with their corrections), second looks, consolidation.
        "first_answer_calls_per_ticket": round((summary.get("model_calls", 0) - summary.get("second_look_calls", 0)
                                                - summary.get("consolidation_calls", 0)) / n, 3),
        "second_look_calls_per_ticket": round(summary.get("second_look_calls", 0) / n, 3),
        "consolidation_calls_per_ticket": round(summary.get("consolidation_calls", 0) / n, 3),
        "prompt_tokens_per_ticket": round(summary.get("prompt_tokens", 0) / n),
        "second_looks": summary.get("reasked", 0),
        "prompt_tokens_first_100": round(sum(per_ticket[:100]) / max(1, len(per_ticket[:100]))),
        "prompt_tokens_last_100": round(sum(per_ticket[-100:]) / max(1, len(per_ticket[-100:]))),
        "stage_s": stages,
        "peak_rss_mb": round(peak_kb / 1024),
        "bound_fetch_s": round(bound_fetch, 1),
        "bound_model_s": round(bound_model, 1),
        "wall_over_bound": round(wall / bound, 2) if bound else None,
        "issues": issues,
        "true_problems": len(set(truth.values())),
        # Against the oracle's truth: issues mixing problems, and problems spread over several issues.
        "mixed_issues": sum(1 for problems_here in problems_of if len(problems_here) > 1),
        "split_problems": sum(1 for count in issues_of.values() if count > 1),
        "stdout": stdout.strip().splitlines()[:4],
    }


class _PeakRss:
    """Polls a process's VmHWM (its own peak RSS; ru_maxrss would include the parent's at fork time)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.kb = 0
        self._path = Path(f"/proc/{pid}/status")
        self._done = threading.Event()
        self._every = every
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                match = re.search(r"VmHWM:\s+(\d+) kB", self._path.read_text())
            except OSError:
                return
            if match:
                self.kb = max(self.kb, int(match.group(1)))
            self._done.wait(self._every)

    def stop(self) -> None:
        self._done.set()


def _stage_times(stderr: str) -> dict[str, float]:
    match = re.search(r"time per stage: (.*)", stderr)
    if not match:
        return {}
    return {name: float(seconds) for name, seconds in re.findall(r"([a-z][a-z ]*?) ([\d.]+) s", match.group(1))}


# ----------------------------------------------------------------------------------------- micro-benchmarks

def embedding_speed(count: int = 96, chars: int = 1000) -> tuple[float, float]:
    """Ticket-length texts (problem_statement of bench tickets, padded to `chars`) embedded per wall second, and
    per CPU second divided by the cores the session uses (what an idle machine would reach)."""
    from conversation_utils import clean_conversation, problem_statement
    from embeddings import LocalEmbedder

    desk, _ = bench_desk(count, seed=3)
    texts = []
    for thread in desk:
        text = problem_statement(clean_conversation(thread["ticket"], thread["conversations"], ""))
        while len(text) < chars:
            text = f"{text} {text}"
        texts.append(text[:chars])
    embedder = LocalEmbedder()
    embedder.embed(texts[:8])  # load the session; first shapes are slower
    started, cpu = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return count / wall, count / (cpu / min(2, os.cpu_count() or 1))


def lookup_speed(workdir: Path) -> dict[str, Any]:
    """`python -m main --similar` against the DB a run left in `workdir` (CLI start-up included)."""
    if not (ROOT / "lookup.py").exists():
        return {"lookup": "HOOK: no lookup module yet"}
    times = []
    for _ in range(3):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "main", "--similar", "the CSV export times out for several people", "--quiet"],
            cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        )
        times.append(time.monotonic() - started)
        if result.returncode != 0:
            return {"lookup": f"failed: {result.stderr.strip()[-300:]}"}
    return {"lookup_cli_s": round(min(times), 2), "lookup_warm_s": lookup_warm(workdir)}


def lookup_warm(workdir: Path) -> float:
    """One lookup from disk (DB, conversations, embedding cache) with the model already loaded, as a
    long-lived triage service would run it: what is left once interpreter start-up and model load are paid."""
    from conversation_utils import ConversationStore
    from embeddings import EmbeddingCache, LocalEmbedder
    from lookup import lookup

    model = LocalEmbedder()
    model.embed(["warm up the session"])
    times = []
    for _ in range(3):
        started = time.perf_counter()
        cache = EmbeddingCache(workdir / ".cache" / "embeddings", model)
        lookup(workdir / "output" / "silo_issues_db.json", ConversationStore(workdir / "conversations"), cache,
               text="the CSV export times out for several people")
        times.append(time.perf_counter() - started)
    return round(min(times), 2)


# ----------------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="150,1000,10000", help="desk sizes, comma-separated")
    parser.add_argument("--rate-limit", type=float, default=400, help="credits per window (Pro: 400)")
    parser.add_argument("--window", type=float, default=6.0, help="rate window in seconds (60 = real; 6 = 10x)")
    parser.add_argument("--freshdesk-latency", type=float, default=0.05, help="seconds per Freshdesk answer")
    parser.add_argument("--model-latency", type=float, default=0.3, help="seconds per model answer")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the run folders here instead of a temp folder")
    parser.add_argument("--no-embed-speed", action="store_true", help="skip the embedding micro-benchmark")
    parser.add_argument("--classifier", choices=("llm", "embedding"), default="llm",
                        help="embedding: the offline run (batch clustering), no model calls")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    print(f"fake Freshdesk: {args.rate_limit:g} credits / {args.window:g} s, {args.freshdesk_latency} s latency; "
          f"model latency {args.model_latency} s; --concurrency {args.concurrency} --batch-size {args.batch_size}")
    if not args.no_embed_speed:
        wall_rate, cpu_rate = embedding_speed()
        print(f"embedding: {wall_rate:.1f} texts/s wall, {cpu_rate:.1f} texts/s per 2 CPU-seconds "
              "(1,000-character ticket texts, local MiniLM int8)")
    base = args.keep or Path(tempfile.mkdtemp(prefix="silo-bench-"))
    last_dir = None
    for n in sizes:
        last_dir = base / f"desk-{n}"
        result = run_size(n, args, last_dir)
        print(json.dumps(result))
        sys.stdout.flush()
    if last_dir is not None:
        print(json.dumps({"tickets_in_db": sizes[-1], **lookup_speed(last_dir)}))
    print(f"peak RSS of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
