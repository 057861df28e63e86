"""Record types shared by the stages, with the SPEC's field names; dicts only at the JSON boundary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Literal, TypedDict, Union

# Parsed JSON, as it comes from a file or an API before it is typed.
# A recursive alias needs Union: `|` cannot take the string forward references at run time.
JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]  # noqa: UP007
JSONObject = dict[str, JSONValue]


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
class TicketInfo:
    """What outputs show of a ticket beside its decision: its subject and its page for people."""

    subject: str
    url: str


@dataclass(frozen=True)
class Candidate:
    """A confirmed issue offered to the classifier, with its similarity to the ticket."""

    issue_id: str
    category: str
    keywords: list[str]
    root_cause: str
    similarity: float

    def for_prompt(self) -> dict[str, str | list[str]]:
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

    def to_dict(self) -> JSONObject:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: JSONObject) -> Answer:
        """The stored form back; a missing or mistyped field is a KeyError/TypeError for the loader."""
        return cls(
            issue_id=_optional_str(data["issue_id"]),
            category=str(data["category"]),
            keywords=[str(k) for k in _list(data["keywords"])],
            root_cause=str(data["root_cause"]),
            resolution_steps=[str(s) for s in _list(data["resolution_steps"])],
            confidence=float(data["confidence"]),  # type: ignore[arg-type]
            notes=str(data.get("notes") or ""),
        )


@dataclass(frozen=True)
class Outcome:
    """What a classifier returns for one ticket, before the DB applies it.

    `answer` is None when the model never gave a valid answer; `reason` then holds the last error.
    `flag_reason` is set when the classifier itself wants the decision reviewed where it lands;
    `doubt` when the answer must not stand without a person (the ticket's text addresses the model,
    the choice is implausible): the ticket then starts a provisional issue, as an unsure answer does.
    `trimmed` is set when the model read a shortened conversation.
    """

    ticket_id: int
    answer: Answer | None
    reason: str = ""
    flag_reason: str = ""
    doubt: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    raw_replies: list[str] = field(default_factory=list)
    trimmed: bool = False


@dataclass(frozen=True)
class PairVerdict:
    """A consolidation answer: are two issues one problem, which to keep, how sure."""

    same_problem: bool
    keep_issue_id: str | None
    confidence: float
    notes: str = ""


@dataclass
class RunSummary:
    """What one run did, as stored in the DB's `runs` and printed at the end.

    The classify fields are None for a run that only fetched; keys of an older file that this
    version does not know are kept in `extra`, so a load and save never drop them.
    """

    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    classifier: str = ""
    tickets_seen: int = 0
    tickets_fetched: int = 0
    tickets_cached: int = 0
    # What the source spent: Freshdesk credits, or Zendesk requests (a file costs none); `source` says
    # which (freshdesk, zendesk, file or demo; a --from-cache run names its conversations' source;
    # runs recorded before it was: Freshdesk).
    credits: float = 0.0
    source: str | None = None
    tickets_skipped: int | None = None
    tickets_classified: int | None = None
    issues_created: int | None = None
    issues_grown: int | None = None
    flagged: int | None = None
    model_calls: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # Tickets given a second look; the calls second looks and consolidation took (model_calls holds all).
    reasked: int | None = None
    second_look_calls: int | None = None
    consolidation_calls: int | None = None
    consolidated: int | None = None
    merge_suggestions: int | None = None
    trimmed: int | None = None
    new_issue_ids: list[str] | None = None
    grown_issue_ids: list[tuple[str, int]] | None = None
    estimated_cost: float | None = None
    extra: JSONObject = field(default_factory=dict)

    @property
    def classified(self) -> bool:
        """True when the run went through the classify stage."""
        return self.tickets_classified is not None

    def to_dict(self) -> JSONObject:
        data: JSONObject = dict(self.extra)
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "extra" or value is None:
                continue
            if item.name == "grown_issue_ids":
                value = [[issue_id, count] for issue_id, count in value]
            data[item.name] = value
        return data

    @classmethod
    def from_dict(cls, data: JSONObject) -> RunSummary:
        known = {item.name for item in fields(cls)} - {"extra"}
        values = {name: data[name] for name in known if name in data}
        if "grown_issue_ids" in values:
            values["grown_issue_ids"] = [(str(pair[0]), int(pair[1])) for pair in _list(values["grown_issue_ids"])]
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})  # type: ignore[arg-type]


@dataclass
class RunRecord:
    """One entry of the DB's `runs`."""

    started_at: str
    finished_at: str
    summary: RunSummary

    def to_dict(self) -> JSONObject:
        return {"started_at": self.started_at, "finished_at": self.finished_at, "summary": self.summary.to_dict()}

    @classmethod
    def from_dict(cls, data: JSONObject) -> RunRecord:
        summary = data.get("summary") or {}
        if not isinstance(summary, dict):
            raise TypeError("a run's summary is not an object")
        return cls(str(data.get("started_at") or ""), str(data.get("finished_at") or ""), RunSummary.from_dict(summary))


@dataclass
class HistoryEntry:
    """One entry of the DB's `history`: a review, merge, consolidation or reclassification."""

    at: str
    action: str
    details: JSONObject

    def to_dict(self) -> JSONObject:
        return {"at": self.at, "action": self.action, "details": self.details}

    @classmethod
    def from_dict(cls, data: JSONObject) -> HistoryEntry:
        details = data.get("details") or {}
        if not isinstance(details, dict):
            raise TypeError("a history entry's details are not an object")
        return cls(str(data["at"]), str(data["action"]), details)


def _list(value: JSONValue) -> list[JSONValue]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, found {type(value).__name__}")
    return value


def _optional_str(value: JSONValue) -> str | None:
    return None if value is None else str(value)


@dataclass
class RunStats:
    """The classify stage's counts for one run, which the run summary reports."""

    tickets_skipped: int = 0
    tickets_classified: int = 0
    issues_created: int = 0
    flagged: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Tickets given a second look (the summary's historical name), and the calls those and consolidation took.
    reasked: int = 0
    second_look_calls: int = 0
    consolidation_calls: int = 0
    consolidated: int = 0
    merge_suggestions: int = 0
    trimmed: int = 0
    new_issue_ids: list[str] = field(default_factory=list)
    grown: dict[str, int] = field(default_factory=dict)

    def merged(self, keep: str, other: str, tickets: int) -> None:
        """Issue `other`, of `tickets` tickets, was merged into `keep`: what it added this run grows `keep`."""
        added = self.grown.pop(other, 0)
        if other in self.new_issue_ids:
            self.new_issue_ids.remove(other)
            self.issues_created = len(self.new_issue_ids)
            added = tickets
        if keep not in self.new_issue_ids and added:
            self.grown[keep] = self.grown.get(keep, 0) + added


@dataclass
class SourceStats:
    """What a source did: tickets listed, fetched anew, served from the cache, and API credits spent."""

    listed: int = 0
    fetched: int = 0
    cached: int = 0
    credits: float = 0.0
    # How many tickets the run will see, once the source knows (a search's total, the whole listing).
    expected: int | None = None


@dataclass(frozen=True)
class Listed:
    """One ticket a run would see: its id, its `updated_at` (None when unknown), and its fetch cost."""

    ticket_id: int
    updated_at: str | None
    fetch_credits: float
