"""The LLM classifier: render the prompt, ask the model, parse and validate, correct up to twice."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from conversation_utils import transcript
from decision_checks import addresses_model
from env import DEFAULT_CONFIDENCE_THRESHOLD
from llm_client import LLMClient, LLMRequestRejected
from prompts_config import (
    ANSWER_SCHEMA,
    CONSOLIDATION_SCHEMA,
    PROMPT_ECHOES,
    corrective_message,
    labelled,
    render_consolidation_messages,
    render_messages,
)
from records import Answer, Candidate, Conversation, JSONObject, Outcome, PairVerdict
from redact import redact_terms, redact_text

if TYPE_CHECKING:
    from decider import FinishedRun, PreparedTicket
    from issue_clusterer import Issue

logger = logging.getLogger(__name__)
T = TypeVar("T")

REQUIRED_FIELDS = tuple(ANSWER_SCHEMA["required"])
# The longest conversation the model reads; a longer one keeps its start and end (transcript()).
MAX_PROMPT_CHARS = 6000
_NULL_IDS = {"", "null", "none", "new", "new issue", "n/a"}
# Reasoning models (Qwen3, DeepSeek-R1) may put prose with braces in a think block before the answer.
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_NOT_WORD = re.compile(r"[^\w]+")


def _words(text: str) -> str:
    """Lowercase words joined by single spaces, padded with a space each side for whole-word matching."""
    return f" {_NOT_WORD.sub(' ', text.casefold()).strip()} "


_ECHOES = tuple(_words(echo) for echo in PROMPT_ECHOES)


class InvalidAnswer(ValueError):
    """The model's answer breaks the contract; the message is the reason told back to the model."""


def parse_json_answer(text: str) -> JSONObject:
    """The JSON object in a reply: raw, inside ``` fences, or the first object amid prose."""
    text = _THINK.sub("", text or "").strip()
    if not text:
        raise ValueError("the reply is empty")
    for chunk in [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]:
        try:
            data = json.loads(chunk)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            data, _ = decoder.raw_decode(text, start)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        start = text.find("{", start + 1)
    raise ValueError("the reply holds no parseable JSON object")


def validate_answer(data: JSONObject, candidate_ids: Collection[str]) -> Answer:
    """An Answer from parsed JSON, or InvalidAnswer naming the first problem found.

    `candidate_ids` are the ids the prompt showed (per-prompt labels in a run): any other id is invalid,
    and so is an answer that repeats the prompt's own words instead of describing the ticket.
    """
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise InvalidAnswer(f"missing field(s): {', '.join(missing)}")
    category = _text(data, "category")
    if not category:
        raise InvalidAnswer("category is empty")
    answer = Answer(
        issue_id=_issue_id(data["issue_id"], candidate_ids),
        category=category,
        keywords=_keywords(data["keywords"]),
        root_cause=_text(data, "root_cause"),
        resolution_steps=_steps(data["resolution_steps"]),
        confidence=_confidence(data["confidence"]),
        notes=_text(data, "notes", allow_null=True),
    )
    _reject_echoes(answer)
    return answer


def _reject_echoes(answer: Answer) -> None:
    """InvalidAnswer when a field repeats the prompt's own words (its field guide, its instructions)."""
    fields = [("category", answer.category), ("root_cause", answer.root_cause), ("notes", answer.notes)]
    fields += [("keywords", k) for k in answer.keywords] + [("resolution_steps", s) for s in answer.resolution_steps]
    for name, value in fields:
        words = _words(value)
        for echo in _ECHOES:
            if echo in words or (words.count(" ") > 3 and words in echo):
                raise InvalidAnswer(f"{name} repeats the prompt's own words ({echo.strip()!r}): describe this "
                                    "ticket's problem in your own words")


def mask_answer(answer: Answer) -> Answer:
    """The answer with personal data masked in the words it gives the issue (names, keywords, root cause,
    steps, notes): they reach the DB, the review CSV and the shared report."""
    return replace(
        answer,
        category=redact_text(answer.category),
        keywords=redact_terms(answer.keywords),
        root_cause=redact_text(answer.root_cause),
        resolution_steps=[redact_text(step) for step in answer.resolution_steps],
        notes=redact_text(answer.notes),
    )


def validate_verdict(data: JSONObject, issue_ids: Collection[str]) -> PairVerdict:
    """A consolidation answer from parsed JSON, or InvalidAnswer naming the first problem found."""
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    missing = [name for name in ("same_problem", "keep_issue_id", "confidence") if name not in data]
    if missing:
        raise InvalidAnswer(f"missing field(s): {', '.join(missing)}")
    same = data["same_problem"]
    if not isinstance(same, bool):
        raise InvalidAnswer(f"same_problem must be true or false, not {type(same).__name__}")
    keep = _issue_id(data["keep_issue_id"], issue_ids, "keep_issue_id")
    if same and keep is None:
        raise InvalidAnswer(f"keep_issue_id must be one of {', '.join(_in_order(issue_ids))} when same_problem is true")
    return PairVerdict(same, keep if same else None, _confidence(data["confidence"]),
                       _text(data, "notes", allow_null=True) if "notes" in data else "")


def _in_order(ids: Collection[str]) -> list[str]:
    """Ids as people count them: C2 before C10."""
    return sorted(ids, key=lambda i: (len(i), i))


def _issue_id(value: object, candidate_ids: Collection[str], field_name: str = "issue_id") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAnswer(f"{field_name} must be a string or null, not {type(value).__name__}")
    value = value.strip()
    if value.lower() in _NULL_IDS:
        return None
    if value in candidate_ids:
        return value
    by_case = {c.lower(): c for c in candidate_ids}
    if value.lower() in by_case:
        return by_case[value.lower()]
    allowed = ", ".join(_in_order(candidate_ids)) or "none: answer null"
    shown = "candidates" if field_name == "issue_id" else "issues shown"
    raise InvalidAnswer(f"{field_name} {value[:40]!r} is not one of the {shown} ({allowed})")


def _text(data: JSONObject, name: str, allow_null: bool = False) -> str:
    value = data[name]
    if value is None and allow_null:
        return ""
    if not isinstance(value, str):
        raise InvalidAnswer(f"{name} must be a string, not {type(value).__name__}")
    return " ".join(value.split())


def _string_list(value: object, name: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidAnswer(f"{name} must be a list of strings, not {type(value).__name__}")
    if not all(isinstance(item, str) for item in value):
        raise InvalidAnswer(f"{name} must hold only strings")
    return [" ".join(item.split()) for item in value if item.strip()]


def _keywords(value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    words = [w.lower() for w in _string_list(value, "keywords")]
    return list(dict.fromkeys(words))


def _steps(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    return _string_list(value, "resolution_steps")


def _confidence(value: object) -> float:
    # bool is an int subclass, and a quoted number is a type error the model should fix.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidAnswer(f"confidence must be a number from 0 to 1, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidAnswer(f"confidence {value} is outside [0, 1]")
    return value


class LLMClassifier:
    """Classifies one ticket against its candidate issues through an LLMClient; a `Decider`."""

    name = "llm"
    describes_issues = True

    def __init__(
        self,
        client: LLMClient,
        *,
        threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
        concurrency: int = 8,
        max_corrections: int = 2,
        max_prompt_chars: int = MAX_PROMPT_CHARS,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.client = client
        self.threshold: float | None = threshold
        self.concurrency = max(1, concurrency)
        self.max_corrections = max(0, max_corrections)
        self.max_prompt_chars = max_prompt_chars
        self.redact = redact

    def offers(self, issue: Issue) -> bool:
        """Every confirmed issue may be a candidate."""
        return True

    def ticket_text(self, conversation: Conversation) -> tuple[str, bool]:
        """The thread as the model reads it (trimmed to the budget, personal data masked); True when trimmed."""
        text, trimmed = transcript(conversation, self.max_prompt_chars)
        return (self.redact(text) if self.redact else text), trimmed

    def messages_for(self, ticket: PreparedTicket) -> list[dict[str, str]]:
        """The system and user messages a run sends for this ticket (what --prompt-debug shows)."""
        return render_messages(self.ticket_text(ticket.conversation)[0], labelled(ticket.candidates)[0])

    def decide(self, ticket: PreparedTicket) -> Outcome:
        """An Outcome with a valid Answer, or with answer None and the last error as reason.

        The model sees the candidates under per-prompt labels (C1, C2, ...) and the answer is mapped
        back to real ids, so no id a ticket names is a valid answer. A ticket whose text addresses the
        model is decided, with that doubt for review. LLMError (the endpoint kept failing) propagates so
        the caller can stop with a checkpoint.
        """
        text, trimmed = self.ticket_text(ticket.conversation)
        if trimmed:
            logger.info("ticket %s: conversation trimmed to %d characters for the model",
                        ticket.ticket_id, self.max_prompt_chars)
        outcome = self._ask_answer(ticket.ticket_id, text, ticket.candidates).outcome(ticket.ticket_id, trimmed)
        return replace(outcome, doubt=addresses_model(text))

    def second_look(self, ticket: PreparedTicket, first: Answer, candidates: list[Candidate]) -> Outcome:
        """Ask again, with the same prompt and schema, whether a ticket answered "new issue" (`first`) is one
        of `candidates`: issues that came close to its own description, or that others started meanwhile."""
        text, _ = self.ticket_text(ticket.conversation)
        return replace(self._ask_answer(ticket.ticket_id, text, candidates).outcome(ticket.ticket_id),
                       doubt=addresses_model(text))

    def _ask_answer(self, ticket_id: int, text: str, candidates: list[Candidate]) -> Asked[Answer]:
        """Ask about one ticket with the candidates labelled for this prompt; the answer names real ids."""
        shown, real_ids = labelled(candidates)

        def validate(data: JSONObject) -> Answer:
            answer = validate_answer(data, list(real_ids))
            return mask_answer(replace(answer, issue_id=real_ids.get(answer.issue_id or "")))

        return self._ask(ticket_id, render_messages(text, shown), ANSWER_SCHEMA, validate, self.max_corrections)

    def judge_pair(self, issues: list[JSONObject]) -> Asked[PairVerdict]:
        """Whether two issues (prompt objects with examples) are one problem; one corrective retry (SPEC).

        The issues keep their real ids (SPEC): the older issue is kept whatever the answer names, so an id
        written into a ticket steers nothing here. Examples whose text addresses the model are left out,
        and the rest are masked, being customers' words.
        """
        ids = {str(issue["issue_id"]) for issue in issues}
        label = "issues " + " and ".join(sorted(ids))
        redact = self.redact or (lambda text: text)
        issues = [{**issue, "examples": [redact(str(e)) for e in issue.get("examples") or []
                                         if not addresses_model(str(e))]} for issue in issues]
        return self._ask(label, render_consolidation_messages(issues), CONSOLIDATION_SCHEMA,
                         lambda data: validate_verdict(data, ids), max_corrections=1)

    def finish(self, run: FinishedRun) -> None:
        """Consolidate the issues the run created or grew."""
        self.consolidate(run, None)

    def consolidate(self, run: FinishedRun, eligible: list[str] | None) -> None:
        """Ask about pairs of confirmed issues that may be one problem, closest first (SPEC: consolidation)."""
        from consolidation import ask_about_close_pairs

        ask_about_close_pairs(run, self.judge_pair, threshold=self.threshold or 0.0, concurrency=self.concurrency,
                              eligible=eligible)

    def _ask(
        self, label: int | str, messages: list[dict[str, str]], schema: JSONObject,
        validate: Callable[[JSONObject], T], max_corrections: int,
    ) -> Asked[T]:
        """Ask until the answer validates, telling the model what was wrong, at most `max_corrections` times."""
        keys = tuple(schema["required"])
        asked: Asked[T] = Asked(None)
        for attempt in range(1 + max(0, max_corrections)):
            try:
                result = self.client.complete(messages, schema=schema)
            except LLMRequestRejected as exc:
                logger.warning("ticket %s: %s" if isinstance(label, int) else "%s: %s", label, exc)
                asked = replace(asked, reason=str(exc))
                break
            asked = replace(
                asked,
                calls=asked.calls + 1,
                prompt_tokens=asked.prompt_tokens + result.prompt_tokens,
                completion_tokens=asked.completion_tokens + result.completion_tokens,
                raw_replies=[*asked.raw_replies, result.text],
            )
            try:
                return replace(asked, value=validate(parse_json_answer(result.text)), reason="")
            except ValueError as exc:
                asked = replace(asked, reason=f"invalid model answer: {exc}")
                logger.info("%s: try %d: %s", f"ticket {label}" if isinstance(label, int) else label,
                            attempt + 1, asked.reason)
                messages = [
                    *messages,
                    {"role": "assistant", "content": result.text or "(empty reply)"},
                    corrective_message(str(exc), keys),
                ]
        return replace(asked, reason=f"{asked.reason} (after {asked.calls} tries)") if asked.calls else asked


@dataclass(frozen=True)
class Asked(Generic[T]):
    """What asking the model until it answered validly gave: the value (None if it never did) and its cost."""

    value: T | None
    reason: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw_replies: list[str] = field(default_factory=list)

    def outcome(self, ticket_id: int, trimmed: bool = False) -> Outcome:
        """The ticket's Outcome, when the value is an Answer."""
        answer = self.value if isinstance(self.value, Answer) else None
        return Outcome(ticket_id=ticket_id, answer=answer, reason=self.reason, prompt_tokens=self.prompt_tokens,
                       completion_tokens=self.completion_tokens, calls=self.calls, raw_replies=self.raw_replies,
                       trimmed=trimmed)
