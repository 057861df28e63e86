"""Offline names a person would write, and root cause and steps extracted from the agents' replies.

An issue is named from its most representative problem statement (the member nearest its centroid):
its subject or opening sentence, cleaned and shortened. The words that name people, companies or
domains in the issue's conversations (greetings, sign-offs, email addresses, links) never reach a name,
a keyword or an extracted text. Root cause and steps come from the most representative resolving reply.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from records import Conversation
from redact import redact_terms, redact_text
from text_terms import STOPWORDS, terms, words

MAX_NAME_CHARS = 60
MIN_NAME_WORDS = 3
MAX_STEPS = 5
# Freshdesk statuses 4 and 5: resolved and closed (other desks map theirs onto them).
RESOLVED_STATUSES = frozenset({4, 5})

_EMAIL = re.compile(r"([\w.+'-]+)@([\w-]+(?:\.[\w-]+)+)")
# A host is a link's, or a name ending in a common top-level domain ("invoice.paid" is an event name).
_HOST = re.compile(r"(?:https?://|www\.)((?:[\w-]+\.)+[a-z]{2,})|\b((?:[\w-]+\.)+(?:com|org|net|io|co|uk|de|fr|nl|es|"
                   r"it|eu|us|ca|au|nz|ch|at|be|se|no|dk|fi|ie|pl|pt|app|dev|ai|info|biz))\b", re.IGNORECASE)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|thanks|thank you|many thanks|cheers|regards|best|kind regards|best regards|"
    r"good (?:morning|afternoon|evening)|hallo|bonjour|hola|ciao|moin)\b[ ,!]*(?P<name>[^\n,!.:]{0,40})",
    re.IGNORECASE | re.MULTILINE,
)
# A greeting opening a subject or sentence ("Hi, ", "Good afternoon! "): not part of the problem.
_LEADING_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear all|good (?:morning|afternoon|evening)|greetings)\b[\s,!.:-]*", re.IGNORECASE
)
_CAPITALISED = re.compile(r"^[^\W\d_][\w'’-]*$")
_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|tr|sv)\s*:\s*|\[[^\]]*\]\s*|(?:urgent|asap|help|question|issue|problem)\s*[:!-]+\s*)+",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN|SSN)\]")
_SENTENCE = re.compile(r"(?<=[.!?:])\s+(?=[A-Z0-9\"'(])")
_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(?P<text>.+)$")
_GREETING_WORDS = frozenset({"hi", "hello", "hey", "dear", "thanks", "thank", "cheers", "regards", "best",
                             "kind", "many", "good", "morning", "hallo", "bonjour", "hola", "ciao", "moin"})
_COMMON_HOST_WORDS = frozenset({"www", "mail", "com", "org", "net", "io", "co", "uk", "de", "help", "app"})


@dataclass(frozen=True)
class Extracted:
    """Root cause and steps taken from an agent's reply, not written by a model."""

    root_cause: str
    resolution_steps: list[str]


def personal_words(conversations: Iterable[Conversation]) -> frozenset[str]:
    """Casefolded words that name someone or somewhere private: email addresses' and link hosts' parts,
    and the capitalised names greeted or signed with that the conversations never write in lower case."""
    addressed: set[str] = set()
    named: set[str] = set()
    lowercase: set[str] = set()
    for conv in conversations:
        for message in conv["messages"]:
            text = message["text"]
            addressed |= _address_words(text)
            named |= _greeted_or_signed(text)
            lowercase |= {w for w in re.findall(r"[^\W\d_][\w'’-]*", _EMAIL.sub(" ", text)) if w.islower()}
    named = {w for w in named if w.lower() not in lowercase and w.casefold() not in _GREETING_WORDS}
    return frozenset(w for w in addressed | set(words(" ".join(named))) if len(w) > 1)


def _address_words(text: str) -> set[str]:
    found: set[str] = set()
    for local, domain in _EMAIL.findall(text):
        found |= set(words(re.sub(r"[._+\d-]+", " ", local)))
        found |= {w for w in words(domain.replace(".", " ")) if w not in _COMMON_HOST_WORDS}
    for linked, named in _HOST.findall(_EMAIL.sub(" ", text)):
        host = linked or named
        found |= {w for w in words(host.replace(".", " ")) if w not in _COMMON_HOST_WORDS}
    return found


def _greeted_or_signed(text: str) -> set[str]:
    """Capitalised tokens after a greeting ("Dear Anna") or on a sign-off line ("Marco | Silo Support")."""
    heads = [m.group("name").split("|")[0] for m in _GREETING.finditer(text)]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    heads += [line.split("|")[0].strip(" -–—,") for line in lines[-2:]]
    found: set[str] = set()
    for head in heads:
        tokens = head.split()
        if 0 < len(tokens) <= 3 and all(_CAPITALISED.match(t) and t[0].isupper() for t in tokens):
            found |= set(tokens)
    return found


def is_clean(text: str, personal: frozenset[str]) -> bool:
    """Whether `text` holds no personal word and nothing redaction would mask."""
    return not (set(words(text)) & personal) and redact_text(text) == text


def clean_keywords(keywords: Iterable[str], personal: frozenset[str]) -> list[str]:
    """Keywords without personal words, then through redaction."""
    return redact_terms(k for k in keywords if not set(k.split()) & personal and not set(words(k)) & personal)


def issue_name(statements: list[str], personal: frozenset[str]) -> str:
    """A name from the most representative clean subject that says enough, else from the most
    representative clean opening sentence; "" when none does. `statements` come most typical first."""
    paragraphs = [[p.strip() for p in s.split("\n\n") if p.strip()] for s in statements]
    subjects = [p[0] for p in paragraphs if p]
    openings = [_SENTENCE.split(_GREETING.sub("", p[1]).strip(" ,!"))[0] for p in paragraphs if len(p) > 1]
    for option in subjects + openings:
        name = _as_name(option)
        if name and is_clean(name, personal) and is_clean(option, personal):
            return name
    return ""


def _as_name(text: str) -> str:
    text = " ".join(_PLACEHOLDER.sub(" ", _SUBJECT_PREFIX.sub("", text.split("\n")[0])).split())
    text = _LEADING_GREETING.sub("", text).strip(" .,;:!?-–—")
    for quote in "\"'":
        # Only quotes that open or close words: "can't" keeps its apostrophe.
        bare = re.compile(rf"(?<!\w){quote}|{quote}(?!\w)")
        if len(bare.findall(text)) % 2:
            text = bare.sub("", text)
    if len([t for t in terms(text) if " " not in t]) < MIN_NAME_WORDS - 1 or len(text.split()) < MIN_NAME_WORDS:
        return ""
    if len(text) > MAX_NAME_CHARS:
        cut = text[: MAX_NAME_CHARS + 1]
        text = cut[: cut.rfind(" ")].rstrip(" ,;:-–—") if " " in cut else text[:MAX_NAME_CHARS]
    # A cut subject ("check the balance of") ends on a word that leads nowhere: drop those.
    tokens = text.split()
    while len(tokens) > MIN_NAME_WORDS and tokens[-1].casefold().strip(",.;:") in STOPWORDS:
        tokens.pop()
    text = " ".join(tokens).rstrip(" .,;:!?-–—")
    return text[0].upper() + text[1:] if text else ""


def resolving_reply(conv: Conversation) -> str:
    """The public agent reply that answers a resolved ticket: its longest reply that is not all questions."""
    if conv["status"] not in RESOLVED_STATUSES:
        return ""
    best = ""
    for message in conv["messages"]:
        if message["speaker"] != "agent" or message["private"]:
            continue
        sentences = _sentences(message["text"])
        statements = [s for s in sentences if not s.endswith("?")]
        if len(" ".join(statements).split()) > len(best.split()) and len(statements) * 2 > len(sentences):
            best = message["text"]
    return best


def boilerplate_sentences(replies_by_issue: Iterable[list[str]], share: float = 0.2) -> frozenset[str]:
    """Sentences found in the replies of more than `share` of the issues (and at least 3): stock phrases
    that explain no issue in particular ("I've had a look at your account")."""
    seen: Counter[str] = Counter()
    groups = 0
    for replies in replies_by_issue:
        groups += 1
        seen.update({s for reply in replies for s in _sentences(" ".join(_reply_lines(reply)))})
    limit = max(2, share * groups)
    return frozenset(s for s, n in seen.items() if n > limit)


def extract_resolution(replies: list[str], personal: frozenset[str],
                       boilerplate: frozenset[str] = frozenset()) -> Extracted | None:
    """Root cause and steps from the reply nearest the others (bag of words), leaving out `boilerplate`
    sentences; None without a reply that says something of its own."""
    replies = [r for r in replies if r]
    if not replies:
        return None
    bags = [Counter(terms(r)) for r in replies]
    centroid: Counter[str] = Counter()
    for bag in bags:
        centroid.update({t: n / max(1, sum(bag.values())) for t, n in bag.items()})
    order = sorted(range(len(replies)), key=lambda i: (-_cosine(bags[i], centroid), i))
    found = [f for f in (_split_reply(replies[i], personal, boilerplate) for i in order) if f is not None]
    if not found:
        return None
    # The most representative reply explains; when it lists no steps, the next one that does lends them.
    steps = next((f.resolution_steps for f in found if f.resolution_steps), [])
    return Extracted(found[0].root_cause, found[0].resolution_steps or steps)


def _reply_lines(reply: str) -> list[str]:
    """A reply's lines without its greeting: a short greeting line goes, "Hi Anna, I've..." keeps "I've..."."""
    lines = []
    for line in reply.splitlines():
        if _GREETING.match(line):
            head, comma, rest = line.partition(",")
            line = rest if comma and len(head.split()) <= 4 else ("" if len(line.split()) <= 6 else line)
        if line.strip():
            lines.append(line.strip())
    return lines


def _split_reply(reply: str, personal: frozenset[str], boilerplate: frozenset[str]) -> Extracted | None:
    lines = _reply_lines(reply)
    steps = [m.group("text").strip() for line in lines if (m := _STEP.match(line))]
    prose = [line for line in lines if not _STEP.match(line)]
    sentences = [s for s in _sentences(" ".join(prose)) if not s.endswith("?") and is_clean(s, personal)]
    sentences = [s for s in sentences if len(s.split()) >= 4 and s not in boilerplate]
    if not sentences:
        return None
    steps = [s for s in steps if is_clean(s, personal) and s not in boilerplate]
    # A lead-in ("To fix it:", "Until the fix is out:") introduces the steps; it explains nothing.
    explaining = [s for s in sentences if not s.endswith(":")]
    if not explaining:
        return None
    if steps:
        return Extracted(" ".join(explaining[:2]), steps[:MAX_STEPS])
    return Extracted(explaining[0], explaining[1:1 + MAX_STEPS])


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def _cosine(bag: Counter[str], centroid: Counter[str]) -> float:
    dot = sum(n * centroid[t] for t, n in bag.items())
    norm = math.sqrt(sum(n * n for n in bag.values())) * math.sqrt(sum(n * n for n in centroid.values()))
    return dot / norm if norm else 0.0
