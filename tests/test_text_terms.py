"""Naming terms: Unicode words, stopwords of the cleaner's five languages, English terms as before."""

from __future__ import annotations

import pytest

from embedding_classifier import name_issues
from text_terms import STOPWORDS, languages, terms, words


def unigrams(text: str) -> list[str]:
    return [term for term in terms(text) if " " not in term]


# Pinned from the ASCII-only tokenizer this module replaced: English terms must not move.
@pytest.mark.parametrize("text, expected", [
    ("Hi team, I can't log in after the password reset: the link says it's expired. Thanks, Ann "
     "(ann@example.org)",
     ["team", "log", "password", "reset", "link", "says", "expired", "ann", "password reset", "link says"]),
    ("The customer's CSV export times out after 60 seconds on https://app.example.com/export; Win10, Chrome v120.",
     ["customers", "csv", "export", "times", "seconds", "win10", "chrome", "v120", "customers csv", "csv export",
      "export times", "win10 chrome", "chrome v120"]),
    ("Our webhook endpoint stopped receiving deliveries yesterday - TLS handshake errors in the log!",
     ["webhook", "endpoint", "stopped", "receiving", "deliveries", "yesterday", "tls", "handshake", "errors", "log",
      "webhook endpoint", "endpoint stopped", "stopped receiving", "receiving deliveries", "deliveries yesterday",
      "yesterday tls", "tls handshake", "handshake errors"]),
])
def test_english_terms_are_unchanged(text, expected):
    assert terms(text) == expected


def test_english_words_that_are_stopwords_elsewhere_stay_in_english_text():
    text = "The delivery van door will not open and the car alarm goes off; the app may die"
    assert languages(words(text)) == ()
    assert {"van", "door", "car", "die"} <= set(unigrams(text))


@pytest.mark.parametrize("text, lang, expected", [
    ("L'application a échoué après la mise à jour, l'écran reste noir. Merci d'avance, cordialement",
     "fr", ["application", "échoué", "mise", "jour", "écran", "reste", "noir"]),
    ("Die Anmeldung ist fehlgeschlagen, weil das Passwort nicht akzeptiert wird. Mit freundlichen Grüßen",
     "de", ["anmeldung", "fehlgeschlagen", "passwort", "akzeptiert"]),
    ("Hola, el pago falló y la factura no se generó. Muchas gracias por la ayuda",
     "es", ["pago", "falló", "factura", "generó"]),
    ("Hallo, de factuur is niet verstuurd en het wachtwoord werkt niet meer. Met vriendelijke groet",
     "nl", ["factuur", "verstuurd", "wachtwoord", "werkt"]),
])
def test_other_languages_keep_accents_and_drop_their_stopwords(text, lang, expected):
    assert languages(words(text)) == (lang,)
    assert unigrams(text) == expected


def test_words_are_unicode_casefolded_and_nfc():
    assert words("Échec ÉCHOUÉ Straße x86 e\u0301chec don’t") == ["échec", "échoué", "strasse", "x86", "échec",
                                                                  "don't"]
    assert terms("Échec de connexion") == ["échec", "connexion"]  # "de" sits between: no bigram


def test_unmistakable_function_words_go_even_in_a_short_text():
    # Too short to tell the language, but "nicht" is no English word.
    assert unigrams("Drucker druckt nicht") == ["drucker", "druckt"]


def test_english_stopwords_and_chatter_are_kept_as_a_set():
    assert {"the", "hello", "thanks", "regards", "can't", "via"} <= STOPWORDS


def test_german_issue_names_no_longer_pick_up_german_stopwords():
    names = name_issues({
        "ISS-1": ["Die Rechnung ist falsch, die Mehrwertsteuer auf der Rechnung stimmt nicht",
                  "Auf meiner Rechnung steht die falsche Mehrwertsteuer, das ist nicht korrekt"],
        "ISS-2": ["Die App stürzt beim Start ab und ich kann mich nicht anmelden",
                  "Seit dem Update stürzt die App ab, auf dem Handy nicht nutzbar"],
    })
    for _, keywords in names.values():
        assert not {"die", "auf", "nicht", "das", "ist"} & {w for k in keywords for w in k.split()}
    assert "rechnung" in names["ISS-1"][1] and names["ISS-2"][0].startswith(("App", "Stürzt"))
