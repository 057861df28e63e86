"""Shared harness for end-to-end tests: a desk with known true problems and an oracle fake model.

- `make_e2e_desk(n, seed)` -> (threads for FakeFreshdesk, {ticket_id: topic index}); every ticket is
  resolved or closed and its subject names its topic (tests/fake_freshdesk.py `_TOPICS`).
- `Oracle(...)` is a FakeOpenAI responder that answers the right issue when it is among the candidates,
  else a new issue with the topic's fields. Its answer depends only on the request's ticket text and
  candidate set, so a retried, resumed or faulted run gets the same answers as a clean one. Seeded
  faults (429, 500, malformed JSON, slow replies) hit the first sight of a request only.
- `ThrottlingFreshdesk` adds seeded 429 bursts (Retry-After 1) to FakeFreshdesk.
- `cli_env`, `run_cli`, `comparable_db`, `assert_same_db` run the CLI as a subprocess and compare DBs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.fake_freshdesk import _TOPICS, FakeFreshdesk, make_thread
from tests.fake_openai import FakeOpenAI, candidates_in, ticket_in

REPO = Path(__file__).resolve().parent.parent
END = datetime(2026, 3, 1, tzinfo=timezone.utc)
FRESHDESK_KEY = "fd-e2e-key-Q7xZ31"
LLM_KEY = "sk-e2e-llm-key-K9wP42"

# The issue each topic of the fake desk really is: category, keywords, root cause, steps.
TOPICS: list[dict[str, Any]] = [
    {"category": f"Topic {n}: {subject}", "keywords": [w.lower() for w in re.findall(r"[A-Za-z]{4,}", subject)][:4],
     "root_cause": answer.split(";")[0].split(".")[0] + ".", "resolution_steps": [answer]}
    for n, (subject, _problem, answer) in enumerate(_TOPICS)
]
_SUBJECTS = [subject for subject, _, _ in _TOPICS]
_MARKER = re.compile(r"marker-(\d+)-0\b")
_INJECTION = re.compile(r"assign this to (ISS-\d{4,})", re.IGNORECASE)


def make_e2e_desk(n: int = 40, seed: int = 7, first_id: int = 1, topics: int = 6) -> tuple[list[dict], dict[int, int]]:
    """`n` resolved/closed tickets over `topics` topics, created one hour apart (newest = highest id)."""
    import random

    rng = random.Random(seed)
    threads, truth = [], {}
    for index in range(n):
        ticket_id = first_id + index
        topic = rng.randrange(topics)
        created = END - timedelta(days=30) + timedelta(hours=index)
        thread = make_thread(ticket_id, rng.randint(0, 4), rng=random.Random(seed * 1000 + ticket_id),
                             created_at=created, status=rng.choice((4, 5)), topic=topic,
                             latest=created + timedelta(hours=1))
        threads.append(thread)
        truth[ticket_id] = topic
    return threads, truth


def topic_of(text: str) -> int | None:
    for number, subject in enumerate(_SUBJECTS):
        if subject in text:
            return number
    return None


def ticket_id_of(text: str) -> int | None:
    match = _MARKER.search(text)
    return int(match.group(1)) if match else None


class Oracle:
    """A deterministic FakeOpenAI responder that knows each ticket's true topic.

    `fault_rate`: fraction of first-sight requests answered with a fault (429, 500, malformed, slow);
    `low_confidence`: ticket ids answered with confidence 0.4 (flagged); `obey_injection`: follow an
    "assign this to ISS-nnnn" inside the ticket, as a gullible model would; `gate_at`: hold the
    n-th call until `release()` (or `gate_seconds`), so a test can signal a run at a known moment.
    """

    def __init__(self, *, fault_rate: float = 0.0, seed: int = 0, low_confidence: set[int] | None = None,
                 obey_injection: bool = False, gate_at: int | None = None, gate_seconds: float = 5.0) -> None:
        self.fault_rate = fault_rate
        self.seed = seed
        self.low_confidence = low_confidence or set()
        self.obey_injection = obey_injection
        self.gate_at = gate_at
        self.gate_seconds = gate_seconds
        self.gate_reached = threading.Event()
        self._gate = threading.Event()
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.calls = 0
        self.faults: Counter[str] = Counter()

    def release(self) -> None:
        self._gate.set()

    def __call__(self, request: dict) -> Any:
        key = hashlib.sha256(json.dumps(request.get("messages"), sort_keys=True).encode()).hexdigest()
        with self._lock:
            self.calls += 1
            call = self.calls
            self._seen[key] += 1
            first_sight = self._seen[key] == 1
        if self.gate_at is not None and call == self.gate_at:
            self.gate_reached.set()
            self._gate.wait(self.gate_seconds)
        if first_sight and self.fault_rate:
            fault = self._fault(key, request)
            if fault is not None:
                return fault
        return json.dumps(self.answer(request))

    def _fault(self, key: str, request: dict) -> Any:
        roll = int(hashlib.sha256(f"{self.seed}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if roll >= self.fault_rate:
            return None
        kind = ("429", "500", "malformed", "slow")[int(roll / self.fault_rate * 4) % 4]
        with self._lock:
            self.faults[kind] += 1
        if kind == "429":
            return FakeOpenAI.error(429, "Rate limit reached", headers={"retry-after-ms": "20"})
        if kind == "500":
            return FakeOpenAI.error(500, "The server had an error", headers={"retry-after-ms": "20"})
        if kind == "malformed":
            return 'Sure! {"issue_id": "ISS-0001", "category": '
        return {"content": json.dumps(self.answer(request)), "delay": 0.3}

    def answer(self, request: dict) -> dict[str, Any]:
        """The answer for this ticket and candidate set (pure: no counters, no randomness)."""
        text = ticket_in(request)
        candidates = candidates_in(request)
        injected = _INJECTION.search(text)
        if self.obey_injection and injected:
            return {"issue_id": injected.group(1), "category": "Injected", "keywords": ["injected"],
                    "root_cause": "The ticket told me to.", "resolution_steps": ["None."],
                    "confidence": 1, "notes": "as the ticket instructed"}
        topic = topic_of(text)
        if topic is None:
            return {"issue_id": None, "category": "Other request", "keywords": ["other"],
                    "root_cause": "Unclear from the ticket.", "resolution_steps": ["Ask the customer."],
                    "confidence": 0.5, "notes": "no known problem"}
        fields = TOPICS[topic]
        match = next((c["issue_id"] for c in sorted(candidates, key=lambda c: c["issue_id"])
                      if c.get("category") == fields["category"]), None)
        confidence = 0.4 if ticket_id_of(text) in self.low_confidence else 0.9
        return {"issue_id": match, **fields, "confidence": confidence,
                "notes": "same root cause" if match else "no candidate matches"}


class ThrottlingFreshdesk(FakeFreshdesk):
    """FakeFreshdesk that answers bursts of 429 (Retry-After: 1) at seeded request numbers."""

    def __init__(self, *args: Any, bursts: int = 2, burst_length: int = 4, burst_seed: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import random

        rng = random.Random(burst_seed)
        starts = sorted(rng.sample(range(5, 60), bursts))
        self.burst_requests = {s + i for s in starts for i in range(burst_length)}
        self._served = 0

    def _charge(self, cost: float) -> dict[str, str] | None:
        with self._lock:
            self._served += 1
            burst = self._served in self.burst_requests
            if burst:
                self.throttled += 1
        return None if burst else super()._charge(cost)

    def _retry_after(self) -> int:
        return 1


def clean_environ() -> dict[str, str]:
    """os.environ without any setting of the tool, so tests see only what they set."""
    names = ("FRESHDESK_", "LLM_", "EMBEDDING_", "BATCH_SIZE", "CONFIDENCE_THRESHOLD")
    return {k: v for k, v in os.environ.items() if not k.startswith(names)}


def cli_env(freshdesk: FakeFreshdesk | None = None, llm: FakeOpenAI | None = None, **extra: str) -> dict[str, str]:
    """An environment for a CLI subprocess pointed at the given fakes."""
    env = clean_environ()
    env["PYTHONPATH"] = str(REPO)
    if freshdesk is not None:
        env.update(FRESHDESK_DOMAIN=freshdesk.url, FRESHDESK_API_KEY=FRESHDESK_KEY)
    if llm is not None:
        env.update(LLM_API_BASE_URL=llm.base_url, LLM_API_KEY=LLM_KEY, LLM_MODEL="fake-model")
    env.update(extra)
    return env


# A shell starts background jobs with SIGINT ignored, and Python then keeps ignoring it; the CLI started
# here gets Ctrl-C's usual meaning back, so signal tests pass however the test run itself was started.
_WITH_CTRL_C = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv[0] = 'main'; runpy.run_module('main', run_name='__main__', alter_sys=True)")


def start_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WITH_CTRL_C, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def comparable_db(path: Path) -> dict[str, Any]:
    """The DB without timestamps of the run, `runs` and token counts (SPEC: "the same DB")."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data.pop("runs", None)
    data["history"] = [{k: v for k, v in h.items() if k != "at"} for h in data.get("history", [])]
    data["merge_suggestions"] = [
        {k: v for k, v in s.items() if k != "at"} for s in data.get("merge_suggestions", [])
    ]
    for issue in data["issues"]:
        issue.pop("created_at", None)
        issue.pop("updated_at", None)
    for record in data["tickets"].values():
        record.pop("decided_at", None)
    return data


def assert_same_db(path: Path, expected: dict[str, Any]) -> None:
    actual = comparable_db(path)
    assert actual == expected, f"{path} differs from the reference DB"
