"""Zendesk settings and TICKET_SOURCE in env.py: parsing, validation and one-line errors that name the variable."""

from __future__ import annotations

import pytest

from env import Settings, ZendeskSettings, load_settings, zendesk_base_url
from errors import ConfigError

TOKEN = "zd-token-5c1e9"


def zendesk_env(**extra: str) -> dict[str, str]:
    values = {"ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "ann@acme.test", "ZENDESK_API_TOKEN": TOKEN}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme", "https://acme.zendesk.com"),
        ("acme.zendesk.com", "https://acme.zendesk.com"),
        ("support.acme.example", "https://support.acme.example"),
        ("https://acme.zendesk.com/", "https://acme.zendesk.com"),
        ("http://127.0.0.1:8099", "http://127.0.0.1:8099"),
        ("https://proxy.internal/zendesk/api/v2", "https://proxy.internal/zendesk"),
    ],
)
def test_subdomain_forms_become_a_base_url(value, expected):
    assert zendesk_base_url(value) == expected
    settings = load_settings(zendesk_env(ZENDESK_SUBDOMAIN=value), env_file=None).zendesk()
    assert settings.base_url == expected
    assert settings.ticket_url(42) == f"{expected}/agent/tickets/42"


@pytest.mark.parametrize(
    ("missing", "named"),
    [("ZENDESK_SUBDOMAIN", "ZENDESK_SUBDOMAIN"), ("ZENDESK_EMAIL", "ZENDESK_EMAIL"),
     ("ZENDESK_API_TOKEN", "ZENDESK_API_TOKEN")],
)
def test_each_missing_variable_is_named_in_one_line(missing, named):
    env = zendesk_env()
    del env[missing]
    with pytest.raises(ConfigError) as caught:
        load_settings(env, env_file=None).zendesk()
    message = str(caught.value)
    assert message.startswith(f"{named} is not set") and ".env" in message and "\n" not in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("bad", ["acme zendesk", "-acme", "acme..com", "ftp://acme.zendesk.com"])
def test_malformed_subdomain_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="ZENDESK_SUBDOMAIN"):
        load_settings(zendesk_env(ZENDESK_SUBDOMAIN=bad), env_file=None).zendesk()


def test_email_is_checked_and_a_pasted_token_suffix_is_dropped():
    settings = load_settings(zendesk_env(ZENDESK_EMAIL="ann@acme.test/token"), env_file=None).zendesk()
    assert settings.email == "ann@acme.test"
    with pytest.raises(ConfigError, match="ZENDESK_EMAIL='ann' is not an email address"):
        load_settings(zendesk_env(ZENDESK_EMAIL="ann"), env_file=None).zendesk()


def test_token_is_secret_and_never_in_repr():
    settings = load_settings(zendesk_env(), env_file=None)
    assert TOKEN in settings.secrets()
    assert TOKEN not in repr(settings) and TOKEN not in repr(settings.zendesk())
    assert isinstance(settings.zendesk(), ZendeskSettings)


def test_zendesk_settings_are_read_from_the_env_file_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ZENDESK_SUBDOMAIN=filedesk\nZENDESK_EMAIL=file@acme.test\nZENDESK_API_TOKEN=t\n"
                        "TICKET_SOURCE=zendesk\n", encoding="utf-8")
    settings = load_settings({"ZENDESK_SUBDOMAIN": "envdesk"}, env_file=env_file)
    assert settings.ticket_source == "zendesk"
    assert settings.zendesk().base_url == "https://envdesk.zendesk.com"
    assert settings.zendesk().email == "file@acme.test"


@pytest.mark.parametrize(("raw", "expected"), [(None, "freshdesk"), ("zendesk", "zendesk"), ("Zendesk", "zendesk"),
                                              ("freshdesk", "freshdesk")])
def test_ticket_source_defaults_to_freshdesk(raw, expected):
    env = {} if raw is None else {"TICKET_SOURCE": raw}
    assert load_settings(env, env_file=None).ticket_source == expected
    assert Settings().ticket_source == "freshdesk"


def test_unknown_ticket_source_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError) as caught:
        load_settings({"TICKET_SOURCE": "helpscout"}, env_file=None)
    assert str(caught.value) == (
        "TICKET_SOURCE='helpscout' is invalid: set it to freshdesk or zendesk (default freshdesk), or leave it out"
    )
    assert caught.value.exit_code == 2
