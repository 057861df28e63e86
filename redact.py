"""Mask personal identifiers in text bound for the model: emails, phone numbers, card numbers, IBANs."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
# International or national numbers with at least 7 digits, allowing spaces, dots, dashes and brackets.
_PHONE = re.compile(
    r"(?<![\w.+/-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w|\.\d)"
)
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# A number right after one of these words is an identifier the agent needs, not a phone number.
_ID_LABEL = re.compile(
    r"\b(?:order|invoice|ticket|case|ref|reference|tracking|id)(?:\s*(?:no|nr|number))?\.?\s*[#:]?\s*$", re.IGNORECASE
)


def redact_text(text: str) -> str:
    """The text with identifiers replaced by [EMAIL], [CARD], [IBAN], [SSN] and [PHONE]."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _CARD.sub(_card, text)
    text = _IBAN.sub("[IBAN]", text)
    text = _SSN.sub("[SSN]", text)
    return _PHONE.sub(_phone, text)


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    found = match.group()
    digits = re.sub(r"\D", "", found)
    # Dates, versions and short numbers (order ids, amounts) are not phone numbers.
    if len(digits) < 7 or _DATE_LIKE.match(found.strip()) or _IP_ADDRESS.match(found.strip()):
        return found
    before = match.string[max(0, match.start() - 20):match.start()]
    if not found.lstrip().startswith(("+", "(")) and _ID_LABEL.search(before):
        return found
    return "[PHONE]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0
