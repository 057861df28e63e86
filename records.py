"""Record types shared by the stages, with the SPEC's field names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict


class Message(TypedDict):
    speaker: Literal["user", "agent"]
    text: str
    private: bool
    incoming: bool
    created_at: str


class Conversation(TypedDict):
    """The cleaned ticket, as stored in `conversations/{ticket_id}.json`."""

    ticket_id: int
    subject: str
    status: int
    created_at: str
    updated_at: str
    url: str
    messages: list[Message]


@dataclass(frozen=True)
class Candidate:
    """A confirmed issue offered to the classifier, with its similarity to the ticket."""

    issue_id: str
    category: str
    keywords: list[str]
    root_cause: str
    similarity: float

    def for_prompt(self) -> dict[str, Any]:
        """The four fields the model sees (SPEC: the model's contract)."""
        return {
            "issue_id": self.issue_id,
            "category": self.category,
            "keywords": list(self.keywords),
            "root_cause": self.root_cause,
        }


@dataclass(frozen=True)
class Answer:
    """A classifier's answer: an existing issue id, or None for a new issue."""

    issue_id: str | None
    category: str
    keywords: list[str]
    root_cause: str
    resolution_steps: list[str]
    confidence: float
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """What a classifier returns for one ticket, before the DB applies it.

    `answer` is None when the model never gave a valid answer; `reason` then holds the last error.
    `flag_reason` is set when the classifier itself wants the decision reviewed.
    """

    ticket_id: int
    answer: Answer | None
    reason: str = ""
    flag_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    raw_replies: list[str] = field(default_factory=list)
