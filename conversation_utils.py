"""Cleaning Freshdesk tickets into the SPEC's conversation JSON, and the store that keeps them on disk."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, TypedDict

from atomic_io import write_json_atomic
from errors import DatabaseError
from records import Conversation, JSONValue, Message, TicketInfo

# Freshdesk ticket source 10 is an outbound email: the agent wrote the description, not the requester.
_SOURCE_OUTBOUND_EMAIL = 10

# Private-use characters mark spans inside the parser's output; input text never keeps them.
_QUOTE_START, _QUOTE_END, _SIG_START, _SIG_END, _INDENT = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004"
_MARKERS = re.compile("[\ue000-\ue003]")
_PRIVATE_USE = re.compile("[\ue000-\ue004]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_PARAGRAPH = frozenset({"p", "blockquote", "pre", *_HEADINGS})
_BLOCK = _PARAGRAPH | {
    "address", "article", "aside", "center", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "section",
    "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
}
# Elements whose whole subtree is earlier mail quoted below a reply.
_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "freshdesk_quote", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote", "zmail_extra"}
)
# Elements from which everything to the end of the body is quoted (Outlook puts the quote after them).
_QUOTE_TO_END_IDS = re.compile(r"^(?:\w+_)?(?:divRplyFwdMsg|appendonsend|stopSpelling)$")
_QUOTE_TO_END_CLASSES = frozenset({"OutlookMessageHeader", "mail-editor-reference-message-container"})
_SIGNATURE_CLASSES = frozenset({"gmail_signature", "moz-signature"})
_FILENAME = re.compile(r"^[\w.\- ]+\.(?:png|jpe?g|gif|bmp|webp|svg|tiff?)$", re.IGNORECASE)
_LOOKS_LIKE_HTML = re.compile(
    r"</?(?:html|body|div|p|br|span|a|b|i|u|em|strong|ul|ol|li|table|tr|td|th|blockquote|img|font|"
    r"pre|hr|h[1-6]|o:p)\b[^>]*>",
    re.IGNORECASE,
)


class _Writer:
    """Accumulates text with block-level line breaks, the way a browser lays out a body."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.newlines = 0
        self.line_empty = True
        self.prefix = ""

    def text(self, value: str) -> None:
        if self.line_empty:
            value = value.lstrip(" ")
        if not value:
            return
        if self.prefix:
            self.parts.append(self.prefix)
            self.prefix = ""
        self.parts.append(value)
        self.newlines = 0
        self.line_empty = False

    def mark(self, marker: str) -> None:
        self.parts.append(marker)

    def newline(self) -> None:
        self.prefix = ""
        self.parts.append("\n")
        self.newlines += 1
        self.line_empty = True

    def soft_break(self) -> None:
        if not self.line_empty:
            self.newline()

    def paragraph(self) -> None:
        if not self.parts:
            return
        self.soft_break()
        if self.newlines < 2:
            self.newline()

    def block(self, value: str) -> None:
        """Write already laid-out text (a table cell), keeping its line breaks."""
        for i, line in enumerate(value.split("\n")):
            if i:
                self.newline()
            self.text(line)

    def value(self) -> str:
        return "".join(self.parts)


class _TextParser(HTMLParser):
    """HTML to plain text; optionally marks quoted history and signature spans for removal."""

    def __init__(self, mark_quotes: bool, mark_signatures: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.mark_quotes = mark_quotes
        self.mark_signatures = mark_signatures
        self.writers = [_Writer()]
        self.stack: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.lists: list[list[Any]] = []  # [ordered?, counter]
        self.tables: list[dict[str, Any]] = []
        self.quote_at: int | None = None  # stack index of the quote element; -1 = to the end
        self.signature_at: int | None = None

    @property
    def out(self) -> _Writer:
        return self.writers[-1]

    # -- tags ---------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in _SKIP:
            if tag not in _VOID:
                self.stack.append(tag)
            self.skip_depth += 1
            return
        if self.skip_depth:
            if tag not in _VOID:
                self.stack.append(tag)
            return
        self._open_spans(tag, attributes)
        if tag == "br":
            self.out.newline()
        elif tag == "img":
            alt = " ".join(attributes.get("alt", "").split())
            if alt and not _FILENAME.match(alt):
                self.out.text(f"[image: {alt}]")
        elif tag in ("ul", "ol"):
            self.out.soft_break()
            self.lists.append([tag == "ol", 0])
        elif tag == "li":
            self.out.soft_break()
            indent = _INDENT * max(len(self.lists) - 1, 0)
            if self.lists and self.lists[-1][0]:
                self.lists[-1][1] += 1
                self.out.prefix = f"{indent}{self.lists[-1][1]}. "
            else:
                self.out.prefix = f"{indent}- "
        elif tag == "table":
            self.out.soft_break()
            self.tables.append({"row": None, "cell": False})
        elif tag == "tr" and self.tables:
            self._end_row()
            self.tables[-1]["row"] = []
        elif tag in ("td", "th") and self.tables:
            self._end_cell()
            if self.tables[-1]["row"] is None:
                self.tables[-1]["row"] = []
            self.tables[-1]["cell"] = True
            self.writers.append(_Writer())
        elif tag in _PARAGRAPH and not self.lists:
            self.out.paragraph()
        elif tag in _BLOCK:
            self.out.soft_break()
        if tag == "pre":
            self.pre_depth += 1
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.stack:
            return  # stray end tag; browsers ignore it too
        index = len(self.stack) - 1 - self.stack[::-1].index(tag)
        for closed in reversed(self.stack[index:]):
            self._close(closed)
        del self.stack[index:]
        if self.quote_at is not None and self.quote_at >= index:
            self.quote_at = None
            self.out.mark(_QUOTE_END)
        if self.signature_at is not None and self.signature_at >= index:
            self.signature_at = None
            self.out.mark(_SIG_END)

    def _close(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth -= 1
            return
        if self.skip_depth:
            return
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.out.soft_break()
        elif tag in ("td", "th") and self.tables:
            self._end_cell()
        elif tag == "tr" and self.tables:
            self._end_row()
        elif tag == "table" and self.tables:
            self._end_row()
            self.tables.pop()
            self.out.soft_break()
        elif tag in _PARAGRAPH and not self.lists:
            self.out.paragraph()
        elif tag in _BLOCK:
            self.out.soft_break()
        if tag == "pre":
            self.pre_depth -= 1

    def _open_spans(self, tag: str, attributes: dict[str, str]) -> None:
        classes = set(attributes.get("class", "").split())
        if self.mark_quotes and self.quote_at is None:
            if _QUOTE_TO_END_IDS.match(attributes.get("id", "")) or classes & _QUOTE_TO_END_CLASSES:
                self.quote_at = -1
                self.out.mark(_QUOTE_START)
            elif classes & _QUOTE_CLASSES or (tag == "blockquote" and attributes.get("type") == "cite"):
                self.quote_at = len(self.stack)
                self.out.mark(_QUOTE_START)
        is_signature = classes & _SIGNATURE_CLASSES or attributes.get("id") in ("Signature", "signature")
        if self.mark_signatures and self.signature_at is None and is_signature and tag not in _VOID:
            self.signature_at = len(self.stack)
            self.out.mark(_SIG_START)

    # -- tables -------------------------------------------------------------------------------------
    def _end_cell(self) -> None:
        table = self.tables[-1]
        if table["cell"]:
            table["cell"] = False
            cell = self.writers.pop().value().strip()
            table["row"].append(cell)

    def _end_row(self) -> None:
        self._end_cell()
        table = self.tables[-1]
        row, table["row"] = table["row"], None
        if not row:
            return
        cells = [cell for cell in row if _MARKERS.sub("", cell).strip()]
        self.out.soft_break()
        if len(cells) == 1:
            self.out.block(cells[0])  # a layout table: keep the cell's own line breaks
        elif cells:
            self.out.text(" | ".join(" ".join(cell.split()) for cell in cells))
        self.out.soft_break()

    # -- text ---------------------------------------------------------------------------------------
    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        data = _INVISIBLE.sub("", _PRIVATE_USE.sub("", data)).replace("\xa0", " ")
        if self.pre_depth:
            self.out.block(data)
        else:
            self.out.text(re.sub(r"\s+", " ", data))

    def close(self) -> None:
        super().close()
        while self.tables:
            self._end_row()
            self.tables.pop()

    def result(self) -> str:
        return self.writers[0].value()


def _parse_html(html: str, mark_quotes: bool = False, mark_signatures: bool = False) -> str:
    parser = _TextParser(mark_quotes, mark_signatures)
    parser.feed(html)
    parser.close()
    return parser.result()


def _normalise(text: str) -> str:
    """Collapse runs of spaces, trim lines, keep at most one blank line; list indentation survives."""
    text = _without_surrogates(text)
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " "))
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip().replace(_INDENT, "  ") for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _without_surrogates(text: str) -> str:
    # Lone surrogates arrive as \uD800-style escapes from broken mail gateways; they cannot be encoded.
    return _SURROGATE.sub("\ufffd", text)


def html_to_text(html: str) -> str:
    """Plain text of an HTML body: tags removed, entities decoded, blocks, lists and tables laid out."""
    return _normalise(_MARKERS.sub("", _parse_html(html or "")))


# -- quoted history -----------------------------------------------------------------------------------
_FORWARD_MARK = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Weitergeleitete Nachricht|Message transféré)\s*-{2,}"
    r"|Begin forwarded message:)\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|"
    r"Oorspronkelijk bericht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# "On Mon, Jan 5, 2026 at 10:00 AM Ann <ann@x.com> wrote:"; a digit is required so that a
# sentence such as "On Monday the log wrote:" is not taken for an attribution.
_ATTRIBUTION = re.compile(
    r"^\s*(?:On\s.*\bwrote|Le\s.*\ba écrit|Am\s.*\bschrieb.*|El\s.*\bescribió|Op\s.*\bgeschreven)\s*:\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Van)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_DATE = re.compile(r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Verzonden)\s*:", re.IGNORECASE)
_HEADER_REST = re.compile(r"^\s*\*?(?:To|Subject|Cc|An|Betreff|À|Objet|Para|Asunto|Aan|Onderwerp)\s*:", re.I)
_HEADER_ONE_LINE = re.compile(r"^\s*\*?From:.{1,300}\b(?:Sent|Date):.{1,300}\b(?:To|Subject):", re.I)
_FORWARD_SUBJECT = re.compile(
    r"^\s*\*?(?:Subject|Betreff|Objet|Asunto)\s*:\*?\s*(?:FW|Fwd|WG|TR|RV)\s*:",
    re.I,
)


def strip_quoted_history(html_or_text: str) -> str:
    """Plain text without quoted earlier mail; HTML input also loses its quote markup.

    Forwarded messages are kept: they are content the sender chose to send, not this thread's history.
    """
    if _LOOKS_LIKE_HTML.search(html_or_text or ""):
        text = _drop_spans(_parse_html(html_or_text, mark_quotes=True), _QUOTE_START, _QUOTE_END)
    else:
        text = html_or_text or ""
    return _strip_quoted_lines(_normalise(_MARKERS.sub("", text)))


def _drop_spans(text: str, start: str, end: str) -> str:
    """Remove marked spans (a span with no end runs to the end), except forwarded messages."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        return inner if _is_forward(_normalise(_MARKERS.sub("", inner)).split("\n")) else "\n"

    return re.sub(f"{start}(.*?)(?:{end}|$)", replace, text, flags=re.DOTALL)


def _is_forward(lines: list[str]) -> bool:
    head = [line for line in lines if line.strip()][:10]
    return any(_FORWARD_MARK.match(line) or _FORWARD_SUBJECT.match(line) for line in head)


def _header_block(lines: list[str], i: int) -> bool:
    """True when line `i` opens an Outlook-style "From: / Sent: / To:" header block."""
    if _HEADER_ONE_LINE.match(lines[i]):
        return True
    if not _HEADER_FROM.match(lines[i]):
        return False
    following = lines[i + 1 : i + 6]
    return any(_HEADER_DATE.match(line) for line in following) and any(
        _HEADER_REST.match(line) for line in following
    )


def _attribution_end(lines: list[str], i: int) -> int | None:
    """Index after an "On <date>, <name> wrote:" line (clients wrap it over up to three lines)."""
    if not re.match(r"^\s*(?:On|Le|Am|El|Op)\s", lines[i], re.IGNORECASE):
        return None
    for end in range(i + 1, min(i + 4, len(lines) + 1)):
        joined = " ".join(line.strip() for line in lines[i:end])
        if _ATTRIBUTION.match(joined) and re.search(r"\d", joined):
            return end
    return None


def _strip_quoted_lines(text: str) -> str:
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        previous = next((x for x in reversed(kept) if x.strip()), "")
        if _ORIGINAL_MESSAGE.match(line) or _header_block(lines, i):
            block = lines[i : i + 12]
            if not (_FORWARD_MARK.match(previous) or _is_forward(block)):
                break
        end = _attribution_end(lines, i)
        if end is not None:
            rest = [x for x in lines[end:] if x.strip()]
            if not rest or not rest[0].lstrip().startswith(">"):
                break  # top-posted reply: everything below the attribution is the quote
            i = end  # bottom-posted: drop the attribution; the ">" lines go below, later words stay
            continue
        kept.append(line)
        i += 1
    return _normalise("\n".join(_drop_quote_prefixed(kept)))


def _drop_quote_prefixed(lines: list[str]) -> list[str]:
    """Drop runs of ">" lines; a lone ">" line mid-message may be the customer's own words and stays."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">"):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and (lines[j].lstrip().startswith(">") or not lines[j].strip()):
            j += 1
        run = [x for x in lines[i:j] if x.strip()]
        at_end = j == len(lines)
        if len(run) < 2 and not at_end:
            out.extend(lines[i:j])
        else:
            out.append("")
        i = j
    return out


# -- signatures ---------------------------------------------------------------------------------------
_VALEDICTION = re.compile(
    r"^(?:(?:best|kind|warm|warmest|many|kindest)\s+regards|regards|best(?:\s+wishes)?|cheers|sincerely|"
    r"yours\s+(?:truly|sincerely)|thanks?(?:\s+(?:again|a lot|so much|in advance))?|"
    r"thank\s+you(?:\s+so much)?|many\s+thanks|mit freundlichen grüßen|viele grüße|cordialement|saludos|"
    r"un saludo|met vriendelijke groet)"
    r"(?P<punct>[,.!]?)(?P<name>\s+\S.*)?$",
    re.IGNORECASE,
)
_MOBILE = re.compile(
    r"^(?:Sent from my \w[\w\s-]{0,40}|Sent from (?:Outlook|Mail|Yahoo Mail)\b.{0,40}|"
    r"Get Outlook for \w+.{0,20}|Sent via \w[\w\s]{0,30})\.?$",
    re.IGNORECASE,
)
_NAME_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "del", "la", "le", "du", "dos"})


def strip_signature(text: str) -> str:
    """Drop a trailing signature: a "-- " block, "Sent from my iPhone", a sign-off with a short name block."""
    lines = text.rstrip().split("\n")
    while lines and (not lines[-1].strip() or _MOBILE.match(lines[-1].strip())):
        lines.pop()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip() in ("--", "-- ", "—"):
            tail = [x for x in lines[i + 1 :] if x.strip()]
            # a signature is a few short lines; a long line after "--" is the sender's own words
            if len(tail) <= 10 and all(len(x) <= 100 for x in tail):
                lines = lines[:i]
            break
    lines = _strip_sign_off(lines)
    return _normalise("\n".join(lines))


def _strip_sign_off(lines: list[str]) -> list[str]:
    start = max(0, len(lines) - 8)
    for i in range(len(lines) - 1, start - 1, -1):
        match = _VALEDICTION.match(lines[i].strip())
        if not match:
            continue
        tail = [x.strip() for x in lines[i + 1 :] if x.strip()]
        inline_name = (match.group("name") or "").strip()
        if inline_name and not _looks_like_name(inline_name):
            return lines  # "Thanks for the quick fix" is a sentence, not a sign-off
        if tail and not (_looks_like_name(tail[0]) and all(_looks_like_contact(x) for x in tail)):
            return lines
        if not tail and not inline_name and match.group("punct") != ",":
            return lines  # a closing "Thanks!" alone may be the customer confirming a fix: keep it
        return lines[:i]
    return lines


def _looks_like_name(line: str) -> bool:
    words = line.replace(",", " ").split()
    if not 1 <= len(words) <= 5 or line.endswith(("?", ":")):
        return False
    return all(not w[0].islower() or w.lower() in _NAME_PARTICLES for w in words)


def _looks_like_contact(line: str) -> bool:
    return len(line) <= 80 and len(line.split()) <= 10 and not line.endswith("?") and not re.match(
        r"^p\.?s\b", line, re.IGNORECASE
    )


# -- conversations ------------------------------------------------------------------------------------
def _clean_body(html: str | None, text: str | None) -> str:
    if html and html.strip():
        marked = _parse_html(html, mark_quotes=True, mark_signatures=True)
        marked = _drop_spans(marked, _QUOTE_START, _QUOTE_END)
        marked = re.sub(f"{_SIG_START}.*?(?:{_SIG_END}|$)", "\n", marked, flags=re.DOTALL)
        plain = _normalise(_MARKERS.sub("", marked))
    else:
        plain = _normalise(_MARKERS.sub("", text or ""))
    return strip_signature(_strip_quoted_lines(plain))


def clean_body(html: str | None, text: str | None) -> str:
    """A message body as plain new text: the HTML (or, without it, the text) minus quotes and signatures."""
    return _clean_body(html, text)


def clean_conversation(ticket: dict, conversations: list[dict], ticket_url: str) -> Conversation:
    """The SPEC's conversation JSON from a ticket and its conversations, as Freshdesk returns them."""
    by_agent = ticket.get("source") == _SOURCE_OUTBOUND_EMAIL
    raw_messages: list[Message] = [
        {
            "speaker": "agent" if by_agent else "user",
            "text": _clean_body(ticket.get("description"), ticket.get("description_text")),
            "private": False,
            "incoming": not by_agent,
            "created_at": ticket.get("created_at") or "",
        }
    ]
    ordered = sorted(conversations, key=lambda c: (c.get("created_at") or "", c.get("id") or 0))
    for item in ordered:
        incoming = bool(item.get("incoming"))
        raw_messages.append(
            {
                "speaker": "user" if incoming else "agent",
                "text": _clean_body(item.get("body"), item.get("body_text")),
                "private": bool(item.get("private")),
                "incoming": incoming,
                "created_at": item.get("created_at") or "",
            }
        )
    messages: list[Message] = []
    for message in raw_messages:
        if not message["text"]:
            continue
        last = messages[-1] if messages else None
        if last and (last["speaker"], last["private"]) == (message["speaker"], message["private"]):
            last["text"] = f"{last['text']}\n\n{message['text']}"
        else:
            messages.append(message)
    return {
        "ticket_id": int(ticket["id"]),
        "subject": " ".join(_without_surrogates(str(ticket.get("subject") or "")).split()),
        "status": int(ticket.get("status") or 0),
        "created_at": ticket.get("created_at") or "",
        "updated_at": ticket.get("updated_at") or "",
        "url": ticket_url,
        "messages": messages,
    }


# -- generic sources (Zendesk, exported files) ----------------------------------------------------------
class SourceMessage(TypedDict, total=False):
    """One message as a non-Freshdesk source gives it, before cleaning."""

    speaker: Literal["user", "agent"]
    html: str | None
    text: str | None
    private: bool
    created_at: str


def conversation_from_messages(
    *,
    ticket_id: int,
    subject: str,
    status: int,
    created_at: str,
    updated_at: str,
    url: str,
    messages: Iterable[SourceMessage],
) -> Conversation:
    """The SPEC's conversation JSON from generic messages, each body through `clean_body`.

    Messages are put in time order when every one has a readable `created_at` (a stable sort, so the
    opening message stays first on ties); otherwise they keep the order given."""
    items = list(messages)
    moments = [_moment(m.get("created_at") or "") for m in items]
    if items and all(moment is not None for moment in moments):
        order = sorted(range(len(items)), key=lambda i: moments[i])  # type: ignore[arg-type, return-value]
        items = [items[i] for i in order]
    collapsed: list[Message] = []
    for item in items:
        text = clean_body(item.get("html"), item.get("text"))
        if not text:
            continue
        speaker: Literal["user", "agent"] = "user" if item.get("speaker") == "user" else "agent"
        private = bool(item.get("private"))
        last = collapsed[-1] if collapsed else None
        if last and (last["speaker"], last["private"]) == (speaker, private):
            last["text"] = f"{last['text']}\n\n{text}"
            continue
        collapsed.append({"speaker": speaker, "text": text, "private": private, "incoming": speaker == "user",
                          "created_at": item.get("created_at") or ""})
    return {
        "ticket_id": int(ticket_id),
        "subject": " ".join(_without_surrogates(str(subject or "")).split()),
        "status": int(status),
        "created_at": created_at or "",
        "updated_at": updated_at or "",
        "url": url,
        "messages": collapsed,
    }


def _moment(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _shorten(text: str, limit: int) -> str:
    """Cut at a word boundary at or before `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return (cut[:space] if space > limit // 2 else text[:limit]).rstrip()


# What a DB's vectors stand for, recorded in the DB; a DB of another kind is re-embedded on load.
EMBEDDED_TEXT = "problem-statement"
# A statement shorter than this says too little to stand for the problem: later customer words join it.
MIN_STATEMENT_WORDS = 6


def problem_statement(conv: Conversation, max_chars: int = 1500) -> str:
    """Text to embed: the subject and the customer's opening message, plus their next messages only while
    that says too little. Replies, follow-ups and agents' words are chatter common to every ticket: in the
    vector they make unrelated tickets look alike (SPEC: local embeddings)."""
    customer = [m["text"] for m in conv["messages"] if m["speaker"] == "user" and not m["private"]]
    pieces = [conv["subject"]] if conv["subject"] else []
    words = len(conv["subject"].split())
    for number, text in enumerate(customer):
        if number and words >= MIN_STATEMENT_WORDS:
            break
        pieces.append(text)
        words += len(text.split())
    return _shorten("\n\n".join(pieces), max_chars)


def transcript(conv: Conversation, max_chars: int = 6000) -> tuple[str, bool]:
    """Readable thread for the model; a long one keeps its start and end around a trim note."""
    blocks = [f"Subject: {conv['subject']}"]
    for message in conv["messages"]:
        who = "customer" if message["speaker"] == "user" else "agent"
        label = f"{who}, private note" if message["private"] else who
        blocks.append(f"[{label}] {message['text']}")
    text = "\n\n".join(blocks)
    if len(text) <= max_chars:
        return text, False
    note = f"\n\n[... {len(text)} characters trimmed ...]\n\n"
    budget = max_chars - len(note)
    if budget < 2:
        return text[:max_chars], True
    head = _shorten(text, budget - budget // 2)
    tail = _shorten(text[::-1], budget // 2)[::-1] if budget // 2 else ""
    trimmed = len(text) - len(head) - len(tail)
    note = f"\n\n[... {trimmed} characters trimmed ...]\n\n"
    return f"{head.rstrip()}{note}{tail.lstrip()}", True


# -- store --------------------------------------------------------------------------------------------
_ID_FILE = re.compile(r"^(\d+)\.json$")
_FIELDS = frozenset(Conversation.__annotations__)


class ConversationStore:
    """`conversations/{id}.json` plus the raw API answers in `conversations/raw/{id}.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, ticket_id: int) -> Path:
        return self.root / f"{int(ticket_id)}.json"

    def raw_path(self, ticket_id: int) -> Path:
        return self.root / "raw" / f"{int(ticket_id)}.json"

    def is_fresh(self, ticket_id: int, updated_at: str) -> bool:
        """True when the cleaned file exists, reads, and was cleaned from the same `updated_at`."""
        try:
            return self.load(ticket_id)["updated_at"] == updated_at
        except (OSError, DatabaseError):
            return False

    def save(self, conv: Conversation, raw: dict) -> None:
        """Write the raw answers, then the cleaned file: a cleaned file always has its raw beside it."""
        ticket_id = conv["ticket_id"]
        try:
            write_json_atomic(self.raw_path(ticket_id), raw)
            write_json_atomic(self.path(ticket_id), conv)
        except OSError as exc:
            raise DatabaseError(
                f"cannot write {self.path(ticket_id)} ({exc.strerror or exc}): check that {self.root} "
                "is a writable folder with free space"
            ) from exc

    def load(self, ticket_id: int) -> Conversation:
        """The cleaned conversation; FileNotFoundError when absent, DatabaseError when unreadable."""
        path = self.path(ticket_id)
        data = _read_json(path)
        if not (
            isinstance(data, dict)
            and data.keys() >= _FIELDS
            and data["ticket_id"] == int(ticket_id)
            and isinstance(data["messages"], list)
        ):
            raise DatabaseError(
                f"{path} is not a conversation of ticket {ticket_id}: delete it and re-run to fetch it again"
            )
        return data  # type: ignore[return-value]

    def get(self, ticket_id: int) -> Conversation | None:
        """The cleaned conversation, or None when it is missing or unreadable."""
        try:
            return self.load(ticket_id)
        except (OSError, DatabaseError):
            return None

    def ticket_info(self, ticket_ids: Iterable[int]) -> dict[int, TicketInfo]:
        """Subject and link of each ticket whose conversation is stored, for the outputs."""
        found = {}
        for ticket_id in ticket_ids:
            conversation = self.get(ticket_id)
            if conversation is not None:
                found[ticket_id] = TicketInfo(conversation["subject"], conversation.get("url") or "")
        return found

    def load_raw(self, ticket_id: int) -> dict:
        """The raw API answers `{"ticket": ..., "conversations": [...]}` the cleaned file came from."""
        path = self.raw_path(ticket_id)
        data = _read_json(path)
        if not (isinstance(data, dict) and isinstance(data.get("ticket"), dict)):
            raise DatabaseError(f"{path} holds no raw ticket: delete it and re-run to fetch it again")
        return data

    def ticket_ids(self) -> list[int]:
        """Sorted ids of the cleaned conversations on disk."""
        if not self.root.is_dir():
            return []
        ids = [int(m.group(1)) for p in self.root.iterdir() if p.is_file() and (m := _ID_FILE.match(p.name))]
        return sorted(ids)


def reclean_store(
    store: ConversationStore,
    ticket_url: Callable[[int], str],
    clean: Callable[[dict, str], Conversation] | None = None,
) -> tuple[int, list[str]]:
    """Rebuild every cleaned conversation from its raw API answers with the current cleaning code.

    A ticket keeps the link its cleaned file had (else `ticket_url`). `clean(raw, url)` rebuilds raw
    answers of any source (ticket_import.conversation_from_raw); without it only Freshdesk's are used.
    Returns the count rebuilt and one line per raw file that could not be used."""
    names = [p.name for p in (store.root / "raw").glob("*.json")]
    ids = sorted(int(m.group(1)) for name in names if (m := _ID_FILE.match(name)))
    rebuilt, problems = 0, []
    for ticket_id in ids:
        try:
            raw = store.load_raw(ticket_id)
            conversations = raw.get("conversations") or []
            if not isinstance(conversations, list) or int(raw["ticket"].get("id", -1)) != ticket_id:
                raise DatabaseError(f"{store.raw_path(ticket_id)} is not the raw answer of ticket {ticket_id}")
            if clean is None and raw.get("source", "freshdesk") != "freshdesk":
                # Cleaning a Zendesk or file raw answer as Freshdesk's would silently lose its thread.
                raise DatabaseError(f"{store.raw_path(ticket_id)} holds a {raw['source']} ticket, which "
                                    "only a source-aware re-clean can rebuild")
        except (DatabaseError, ValueError, TypeError) as exc:
            problems.append(str(exc))
            continue
        try:
            url = store.load(ticket_id)["url"]
        except (OSError, DatabaseError):
            url = ticket_url(ticket_id)
        try:
            rebuilt_conversation = clean(raw, url) if clean else clean_conversation(raw["ticket"], conversations, url)
        except DatabaseError as exc:
            problems.append(str(exc))
            continue
        write_json_atomic(store.path(ticket_id), rebuilt_conversation)
        rebuilt += 1
    return rebuilt, problems

def _read_json(path: Path) -> JSONValue:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DatabaseError(f"cannot read {path} ({exc.strerror or exc}): check its permissions") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DatabaseError(
            f"{path} is not valid JSON ({exc}): delete it and re-run to fetch it again"
        ) from exc
