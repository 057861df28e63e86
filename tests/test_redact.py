"""Redaction: generated identifiers in random text are always masked; look-alikes never are."""

from __future__ import annotations

import string
from datetime import datetime

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

import redact
from redact import iban_ok, luhn_ok, redact_terms, redact_text

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Surrounding text: words of any script, none of them an id label ("order") or a phone word ("call"),
# which change what a number next to them is by design.
_VOCABULARY = ["the", "customer", "wrote", "again", "after", "update", "my", "is", "was", "here", "Hallo",
               "merci", "gracias", "bedankt", "es", "le", "today", "please", "number", "see", "und", "für"]
_WORD = st.one_of(
    st.sampled_from(_VOCABULARY),
    st.text(string.ascii_letters + "éèüöñçßø", min_size=3, max_size=9).filter(
        lambda w: not redact._ID_LABEL.search(w + " ") and not redact._PHONE_WORD.search(w)),
)
_FILLER = st.lists(_WORD, max_size=6).map(" ".join)


@st.composite
def embedded(draw: st.DrawFn, values: st.SearchStrategy[str]) -> tuple[str, str, str]:
    """(text before, the value, text after), separated as prose separates them."""
    before = draw(_FILLER) + draw(st.sampled_from([" ", ": ", "\n", ", ", " - "]))
    after = draw(st.sampled_from([" ", ". ", ", ", "\n", "; ", "! "])) + draw(_FILLER)
    return before, draw(values), after


def assert_masked(parts: tuple[str, str, str], placeholder: str) -> None:
    before, value, after = parts
    assert redact_text(before + value + after) == before + placeholder + after


def assert_kept(parts: tuple[str, str, str]) -> None:
    text = "".join(parts)
    assert redact_text(text) == text


# ----------------------------------------------------------------------------- generated identifiers

# st.emails() follows RFC 5322; an address opening with a quote loses only that quote to the prose.
EMAILS = st.emails().filter(lambda e: e[0] not in "'`")

_CARD_PREFIXES = ["4", "51", "52", "53", "54", "55", "2221", "2720", "34", "37", "6011", "65", "35"]


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(_CARD_PREFIXES))
    length = 15 if prefix in ("34", "37") else draw(st.sampled_from([16, 16, 19]))
    body = prefix + draw(st.text(string.digits, min_size=length - len(prefix) - 1,
                                 max_size=length - len(prefix) - 1))
    digits = next(body + d for d in string.digits if luhn_ok(body + d))
    style = draw(st.sampled_from(["plain", " ", "-"]))
    if style == "plain":
        return digits
    return style.join(digits[i:i + 4] for i in range(0, len(digits), 4))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(redact._IBAN_LENGTHS)))
    size = redact._IBAN_LENGTHS[country] - 4
    bban = draw(st.text(string.digits, min_size=size - 4, max_size=size - 4))
    bban = draw(st.text(string.ascii_uppercase + string.digits, min_size=4, max_size=4)) + bban
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    compact = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    assert iban_ok(compact)
    if draw(st.booleans()):
        return compact
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


# Several numbering plans; national formats only where redact.PHONE_REGIONS reads them.
_PHONE_REGIONS = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "CH", "BE", "IE", "AU", "IN", "BR", "JP", "CA", "PL"]


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(_PHONE_REGIONS))
    kind = draw(st.sampled_from([PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE]))
    example = phonenumbers.example_number_for_type(region, kind)
    significant = phonenumbers.national_significant_number(example)
    tail = draw(st.text(string.digits, min_size=4, max_size=4))
    number = phonenumbers.parse(f"+{example.country_code}{significant[:-4]}{tail}")
    assume(phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == region)
    formats = [PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164]
    if region in redact.PHONE_REGIONS:
        formats.append(PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, draw(st.sampled_from(formats)))


@PROPERTY
@given(embedded(EMAILS))
def test_generated_emails_are_masked(parts):
    assert_masked(parts, "[EMAIL]")


@PROPERTY
@given(embedded(cards()))
def test_generated_luhn_valid_cards_are_masked(parts):
    assert_masked(parts, "[CARD]")


@PROPERTY
@given(embedded(ibans()))
def test_generated_mod97_valid_ibans_are_masked(parts):
    assert_masked(parts, "[IBAN]")


@PROPERTY
@given(embedded(phone_numbers()))
def test_generated_valid_phone_numbers_are_masked(parts):
    assert_masked(parts, "[PHONE]")


# ----------------------------------------------------------------------------- look-alikes

_MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31))
_STAMP_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+01:00", "%d.%m.%Y %H:%M",
                  "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%H:%M:%S", "%Y%m%dT%H%M%SZ", "%Y%m%d%H%M%S",
                  "%a, %d %b %Y %H:%M:%S +0000", "[%Y-%m-%d %H:%M:%S,%f]", "%Y-%m-%d %H:%M"]
_DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d", "%d %B %Y",
                 "%B %d, %Y", "%m/%d/%y", "%d.%m.%y"]

TIMESTAMPS = st.builds(lambda moment, fmt: moment.strftime(fmt), _MOMENTS, st.sampled_from(_STAMP_FORMATS))
DATES = st.builds(lambda moment, fmt: moment.strftime(fmt), _MOMENTS, st.sampled_from(_DATE_FORMATS))
_N = st.integers
VERSIONS = st.one_of(
    st.builds("{}{}.{}.{}".format, st.sampled_from(["", "v", "V"]), _N(0, 99), _N(0, 999), _N(0, 99999)),
    st.builds("{}.{}".format, _N(0, 99), _N(0, 999)),
    st.builds("{}.{}.{}-beta.{}".format, _N(0, 20), _N(0, 99), _N(0, 999), _N(1, 9)),
)
BUILD_NUMBERS = st.builds(
    "{}{}{}".format,
    st.sampled_from(["build ", "Build #", "build: ", "", "Build no. "]),
    DATES.filter(str.isdigit) | st.builds(str, _N(100_000, 99_999_999)),
    st.sampled_from(["", "01", ".3"]),
)
ORDER_IDS = st.builds(
    "{}{}".format,
    st.sampled_from(["order ", "Order #", "order no. ", "invoice ", "invoice no: ", "ticket #", "case ", "ref ",
                     "#", "Bestellung ", "commande n° ", "pedido "]),
    st.builds(str, _N(1000, 999_999_999_999)) | st.builds("{}-{}".format, _N(100, 99999), _N(100, 99999))
    # Shaped like a phone number, but the label says what it is.
    | st.builds("{}-{}-{}".format, _N(200, 999), _N(200, 999), _N(1000, 9999)),
)
IP_LIKE = st.one_of(
    st.builds("{}.{}.{}.{}".format, _N(1, 99), _N(0, 99), _N(0, 99999), _N(0, 9999)),
    st.builds("{}.{}.{}.{}".format, _N(0, 255), _N(0, 255), _N(0, 255), _N(0, 255)),
    st.builds("{}.{}.{}.{}:{}".format, _N(0, 255), _N(0, 255), _N(0, 255), _N(0, 255), _N(1, 65535)),
)
AMOUNTS = st.one_of(
    st.builds("${:,.2f}".format, st.floats(0, 10_000_000, allow_nan=False)),
    st.builds("{:,.2f} EUR".format, st.floats(0, 10_000_000, allow_nan=False)),
    st.builds(lambda x: f"€ {x:,.2f}".replace(",", " ").replace(".", ","), st.floats(0, 10_000_000)),
    st.builds("£{:,}".format, _N(0, 99_999_999)),
)
_KEY_GROUP = st.text(string.ascii_uppercase + string.digits, min_size=4, max_size=5).filter(
    lambda g: any(c.isalpha() for c in g))
LICENSE_KEYS = st.builds(lambda groups, sep: sep.join(groups), st.lists(_KEY_GROUP, min_size=3, max_size=5),
                         st.sampled_from([" ", "-"])).filter(lambda key: not iban_ok(key))


@PROPERTY
@given(embedded(st.one_of(TIMESTAMPS, DATES)))
def test_timestamps_and_dates_are_never_masked(parts):
    assert_kept(parts)


@PROPERTY
@given(embedded(st.one_of(VERSIONS, BUILD_NUMBERS, IP_LIKE)))
def test_versions_build_numbers_and_ip_like_strings_are_never_masked(parts):
    assert_kept(parts)


@PROPERTY
@given(embedded(ORDER_IDS))
def test_order_ids_are_never_masked(parts):
    assert_kept(parts)


@PROPERTY
@given(embedded(st.one_of(AMOUNTS, LICENSE_KEYS)))
def test_amounts_and_license_keys_are_never_masked(parts):
    assert_kept(parts)


# ----------------------------------------------------------------------------- fixed examples


@pytest.mark.parametrize("text", [
    "error at 2026-11-15 10:22:33",  # was "error at [PHONE]:22:33"
    "build 20261115",  # was "build [PHONE]"
    "license key AB12 CD34 EF56 GH78",  # was "[IBAN]": no country, no checksum
    "version 10.0.19045.3803 on 192.168.1.20",
    "order 4412-889 and #12345678",
    "my policy number is 5148054475",  # a bare digit run is not a phone number without a phone word
    "US line 555-867-5309 after 5pm",  # no numbering plan assigns 555 (nor is it said to be a phone)
    "batch 16932487 shipped",  # a German mobile number only when written with its leading 0
    "20261115102232",  # a compact timestamp that passes Luhn
    "update 0.19045.3803 and 60.100.1000",  # dotted, but not grouped as phone numbers are
    "logged 2026-11-15 10:22:33.0161496000",  # digits joined by a dot belong to the timestamp
])
def test_former_false_positives_are_left_alone(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("text, expected", [
    ("call me at 2128675309", "call me at [PHONE]"),
    ("call 555-867-5309", "call [PHONE]"),
    ("my phone number is 546 158 1578.", "my phone number is [PHONE]."),  # said to be one, though unassigned
    ("Tel. 030/1234567 oder +49 (0)30 1234567", "Tel. [PHONE] oder [PHONE]"),
    ("appelez le 06.12.34.56.78", "appelez le [PHONE]"),
    ("0044 20 7946 0958 or 011 44 20 7946 0958", "[PHONE] or [PHONE]"),
    ("or +33 6.12.34.56.78", "or [PHONE]"),  # dotted, but international
    ("IBAN de89 3704 0044 0532 0130 00", "IBAN [IBAN]"),
    ("DE89 3704 0044 0532 0130 01", "DE89 3704 0044 0532 0130 01"),  # check digits wrong
    ("SSN 666-12-3456 or 123-00-4567", "SSN 666-12-3456 or 123-00-4567"),  # never issued
    ("write to 'ann@example.org'", "write to '[EMAIL]'"),
])
def test_fixed_examples(text, expected):
    assert redact_text(text) == expected


def test_redact_terms_masks_personal_data_and_drops_terms_that_are_only_that():
    terms = ["password reset", "jana.novak@example.org", "refund to 4111 1111 1111 1111", "+49 170 1234567",
             "password reset", "vat 21%"]
    assert redact_terms(terms) == ["password reset", "refund to [CARD]", "vat 21%"]
