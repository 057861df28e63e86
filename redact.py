"""Mask personal identifiers in text bound for the model: emails, phone numbers, cards, IBANs, US SSNs."""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatch, PhoneNumberMatcher

# RFC 5322 "atext" in the local part (a!b#c@x.io is an address too), but not opening with a quote, so
# "'ann@x.io'" keeps its quotes; \w lets internationalised addresses in.
_EMAIL = re.compile(r"(?<![\w!#$%&*+/=?^{|}~.-])[\w!#$%&*+/=?^{|}~-][\w!#$%&'*+/=?^`{|}~.-]*@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"(?<![\d+])(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")

# ISO 13616 IBAN lengths per country (SWIFT's IBAN registry); a country not listed has no IBAN.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

# Regions whose national format (no country code) is recognised: the cleaner's languages' main markets.
# Numbers with + or an international prefix (00, 011) are recognised for every country.
PHONE_REGIONS = ("US", "GB", "DE", "FR", "NL", "ES")
# Where a national number is written with a leading 0. The matcher accepts a few bare runs there as
# numbers without it (16932487 as a German mobile, 4969310 as +49 69310): not phone numbers in a ticket.
_TRUNK_ZERO = frozenset({"GB", "DE", "FR", "NL"})
# Seven or more digits close together: the cheap test that spares the phone matcher on most text.
_DIGIT_RUN = re.compile(r"\d(?:[ ().\-/]{0,3}\d){6,}")
# A number right after one of these words is an identifier the agent needs, not a phone number.
_ID_LABEL = re.compile(
    r"(?:\b(?:order|invoice|ticket|case|ref|reference|tracking|id|build|version|ver|serial|bestellung|"
    r"rechnung|commande|facture|pedido|factura|bestelling|factuur)(?:\s*(?:no|nr|number|num|nummer|n°))?"
    r"\.?(?:\s+is)?\s*[#:]?\s*|#\s*)$",
    re.IGNORECASE,
)
# Words that make an unformatted digit run ("call me on 2128675309") a phone number.
_PHONE_WORD = re.compile(
    r"\b(?:phone|call|tel|telephone|mobile|cell|fax|whatsapp|sms|text me|reach me|telefon|handy|mobil|"
    r"téléphone|portable|appelez|teléfono|móvil|celular|llame|telefoon|mobiel|bel)\b",
    re.IGNORECASE,
)
_PLACEHOLDERS = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN|SSN)\]")
_DATE_LIKE = re.compile(r"\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")


def redact_text(text: str) -> str:
    """The text with identifiers replaced by [EMAIL], [IBAN], [CARD], [SSN] and [PHONE]."""
    text = _EMAIL.sub("[EMAIL]", text)
    # IBANs before cards: an IBAN's digit groups can pass Luhn on their own.
    text = _IBAN.sub(_iban, text)
    text = _CARD.sub(_card, text)
    text = _SSN.sub(_ssn, text)
    return _mask_phones(text)


def redact_terms(terms: Iterable[str]) -> list[str]:
    """Issue names or keywords with personal data masked; a term that was nothing but personal data is dropped."""
    kept: list[str] = []
    for term in terms:
        masked = redact_text(term)
        if _PLACEHOLDERS.sub("", masked).strip(" .,;:-/") and masked not in kept:
            kept.append(masked)
    return kept


# ----------------------------------------------------------------------------- checks


def iban_ok(candidate: str) -> bool:
    """ISO 13616: a known country, its length, and the mod-97 check digits."""
    compact = candidate.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rotated)) % 97 == 1


def luhn_ok(digits: str) -> bool:
    """The Luhn check every payment card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban(match: re.Match[str]) -> str:
    found = match.group()
    length = _IBAN_LENGTHS.get(found[:2].upper())
    if length is None:
        return found
    # The regex may run on into the next word ("... 0130 00 please" stops at the space, "...00 1234" does
    # not): take exactly the country's length of characters and give the rest back.
    taken = 0
    for end, char in enumerate(found):
        if char != " ":
            taken += 1
        if taken == length:
            head, tail = found[: end + 1], found[end + 1 :]
            if iban_ok(head) and (not tail or tail.startswith(" ")):
                return "[IBAN]" + tail
            return found
    return found


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if not 13 <= len(digits) <= 19 or not luhn_ok(digits) or _compact_timestamp(digits):
        return match.group()
    return "[CARD]"


def _compact_timestamp(digits: str) -> bool:
    """20261115102233 (yyyymmddHHMMSS) passes Luhn one time in ten; no card number starts 19/20 + a month."""
    return (len(digits) == 14 and digits[:2] in ("19", "20") and 1 <= int(digits[4:6]) <= 12
            and 1 <= int(digits[6:8]) <= 31)


def _ssn(match: re.Match[str]) -> str:
    area, group, serial = match.groups()
    # Never issued: area 000, 666 or 9xx, group 00, serial 0000.
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return match.group()
    return "[SSN]"


# ----------------------------------------------------------------------------- phones


def _mask_phones(text: str) -> str:
    found: list[tuple[int, int]] = []
    for run in _DIGIT_RUN.finditer(text):
        # The matcher runs on a window around each run of digits, not on the whole transcript: most of a
        # ticket is words, and six regions over 6,000 characters cost milliseconds each.
        offset = max(0, run.start() - 24)
        window = text[offset:run.end() + 24]
        # "my phone number is 546 158 1578" is a phone number even where no such number is assigned.
        said = _PHONE_WORD.search(text[max(0, run.start() - 40):run.start()])
        leniency = Leniency.POSSIBLE if said else Leniency.VALID
        for region in PHONE_REGIONS:
            for match in PhoneNumberMatcher(window, region, leniency=leniency):
                start, end = offset + match.start, offset + match.end
                if _is_phone(text, start, end, match, region):
                    found.append((start, end))
    if not found:
        return text
    pieces, last = [], 0
    for start, end in _merge(found):
        pieces += [text[last:start], "[PHONE]"]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _is_phone(text: str, start: int, end: int, match: PhoneNumberMatch, region: str) -> bool:
    raw = match.raw_string
    # 123-45-6789 is shaped as an SSN; one that was never issued is still not a phone number.
    if _DATE_LIKE.fullmatch(raw) or _SSN.fullmatch(raw) or _part_of_longer_number(text, start, end):
        return False
    if raw.startswith("+"):
        return True
    if not _dot_groups_ok(raw, region) or _ID_LABEL.search(text[max(0, start - 32):start]):
        return False
    if match.number.country_code != phonenumbers.country_code_for_region(region):
        return True  # written with an international prefix (00 49 ..., 011 44 ...)
    if region in _TRUNK_ZERO:
        return raw.lstrip("(").startswith("0")
    # US and Spanish numbers have no leading 0: a bare digit run is as likely an account number.
    return not raw.isdigit() or bool(_PHONE_WORD.search(text[max(0, start - 40):start]))


def _part_of_longer_number(text: str, start: int, end: int) -> bool:
    """10.0.19045.3803, 12:30:45, 1,299.00: digits joined to the match by . : , are one number with it."""
    return bool(re.match(r"[.:,]\d", text[end:end + 2]) or re.search(r"\d[.:,]$", text[max(0, start - 2):start]))


def _dot_groups_ok(raw: str, region: str) -> bool:
    """Dotted phone numbers are 01.23.45.67.89 (a leading 0 and groups of 2 to 4) or 212.867.5309; versions and
    IPv4-like strings (60.100.1000, 0.19045.3803, 10.0.19045.3803) are shaped otherwise."""
    if "." not in raw:
        return True
    groups = [len(group) for group in re.findall(r"\d+", raw)]
    if region in _TRUNK_ZERO:
        return len(groups) != 4 and all(2 <= size <= 4 for size in groups)
    return region == "US" and groups == [3, 3, 4]
