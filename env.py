"""Settings from the environment and `.env`, validated into a frozen dataclass at run time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from errors import ConfigError

DEFAULT_BATCH_SIZE = 3
DEFAULT_CONFIDENCE_THRESHOLD = 0.7
TICKET_SOURCES = ("freshdesk", "zendesk")
DEFAULT_TICKET_SOURCE = "freshdesk"
_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")


@dataclass(frozen=True)
class FreshdeskSettings:
    base_url: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class ZendeskSettings:
    base_url: str
    email: str
    api_token: str = field(repr=False)

    def ticket_url(self, ticket_id: int) -> str:
        # The agent interface's page for a ticket: https://<subdomain>.zendesk.com/agent/tickets/<id>.
        return f"{self.base_url}/agent/tickets/{ticket_id}"


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    api_key: str = field(repr=False)
    model: str


@dataclass(frozen=True)
class EmbeddingSettings:
    base_url: str
    api_key: str = field(repr=False)
    model: str


@dataclass(frozen=True)
class Settings:
    freshdesk_domain: str | None = None
    freshdesk_api_key: str | None = field(default=None, repr=False)
    llm_base_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: str | None = field(default=None, repr=False)
    embedding_model: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    llm_price_input: float | None = None
    llm_price_output: float | None = None
    ticket_source: str = DEFAULT_TICKET_SOURCE
    zendesk_subdomain: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: str | None = field(default=None, repr=False)

    def freshdesk(self) -> FreshdeskSettings:
        """Freshdesk settings, or a ConfigError naming what to set."""
        if not self.freshdesk_domain:
            raise ConfigError(
                "FRESHDESK_DOMAIN is not set: set it in .env to your subdomain (acme), "
                "acme.freshdesk.com, or a full URL (see .env.example)"
            )
        if not self.freshdesk_api_key:
            raise ConfigError(
                "FRESHDESK_API_KEY is not set: set it in .env to the API key from your "
                "Freshdesk profile settings (see .env.example)"
            )
        return FreshdeskSettings(freshdesk_base_url(self.freshdesk_domain), self.freshdesk_api_key)

    def zendesk(self) -> ZendeskSettings:
        """Zendesk settings, or a ConfigError naming what to set."""
        if not self.zendesk_subdomain:
            raise ConfigError(
                "ZENDESK_SUBDOMAIN is not set: set it in .env to your subdomain (acme), "
                "acme.zendesk.com, or a full URL (see .env.example)"
            )
        base_url = zendesk_base_url(self.zendesk_subdomain)
        if not self.zendesk_email:
            raise ConfigError(
                "ZENDESK_EMAIL is not set: set it in .env to the email the API token's agent signs in "
                "with (see .env.example)"
            )
        # Zendesk's curl examples write the user as "{email}/token"; accept a pasted suffix.
        email = self.zendesk_email.removesuffix("/token")
        if not _EMAIL.match(email):
            raise ConfigError(
                f"ZENDESK_EMAIL={self.zendesk_email!r} is not an email address: set it to the email "
                "the API token's agent signs in with"
            )
        if not self.zendesk_api_token:
            raise ConfigError(
                "ZENDESK_API_TOKEN is not set: set it in .env to an API token from Admin Center > "
                "Apps and integrations > APIs > Zendesk API (see .env.example)"
            )
        return ZendeskSettings(base_url, email, self.zendesk_api_token)

    def ticket_base_url(self) -> str | None:
        """Base URL for ticket links, or None when no domain is configured (demo)."""
        return freshdesk_base_url(self.freshdesk_domain) if self.freshdesk_domain else None

    def llm(self) -> LLMSettings:
        """Model endpoint settings, or a ConfigError naming what to set."""
        missing = [
            name
            for name, value in (
                ("LLM_API_BASE_URL", self.llm_base_url),
                ("LLM_MODEL", self.llm_model),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} not set: the LLM classifier needs an OpenAI-compatible "
                "endpoint; set it in .env, or use --classifier embedding to run without a model"
            )
        _check_url("LLM_API_BASE_URL", self.llm_base_url or "")
        # Local servers (LM Studio, Ollama, llama.cpp) accept any key; the SDK needs a non-empty one.
        return LLMSettings(self.llm_base_url or "", self.llm_api_key or "not-needed", self.llm_model or "")

    def embedding(self) -> EmbeddingSettings | None:
        """Remote embedding settings, or None for the local ONNX model."""
        if not self.embedding_base_url:
            return None
        _check_url("EMBEDDING_API_BASE_URL", self.embedding_base_url)
        if not self.embedding_model:
            raise ConfigError(
                "EMBEDDING_MODEL is not set: a remote embedding endpoint needs a model name; "
                "set it, or unset EMBEDDING_API_BASE_URL to use the local model"
            )
        return EmbeddingSettings(
            self.embedding_base_url, self.embedding_api_key or "not-needed", self.embedding_model
        )

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing logs and outputs."""
        secrets = (self.freshdesk_api_key, self.zendesk_api_token, self.llm_api_key, self.embedding_api_key)
        return [s for s in secrets if s]


def load_settings(environ: Mapping[str, str], env_file: Path | str | None = ".env") -> Settings:
    """Read settings from `environ`, falling back to `env_file`; the environment wins."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(environ)

    def text(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    return Settings(
        freshdesk_domain=text("FRESHDESK_DOMAIN"),
        freshdesk_api_key=text("FRESHDESK_API_KEY"),
        llm_base_url=text("LLM_API_BASE_URL"),
        llm_api_key=text("LLM_API_KEY"),
        llm_model=text("LLM_MODEL"),
        embedding_base_url=text("EMBEDDING_API_BASE_URL"),
        embedding_api_key=text("EMBEDDING_API_KEY"),
        embedding_model=text("EMBEDDING_MODEL"),
        batch_size=_int_setting("BATCH_SIZE", text("BATCH_SIZE"), DEFAULT_BATCH_SIZE, 1, 50),
        confidence_threshold=_float_setting(
            "CONFIDENCE_THRESHOLD", text("CONFIDENCE_THRESHOLD"), DEFAULT_CONFIDENCE_THRESHOLD, 0.0, 1.0
        ),
        llm_price_input=_price("LLM_PRICE_INPUT", text("LLM_PRICE_INPUT")),
        llm_price_output=_price("LLM_PRICE_OUTPUT", text("LLM_PRICE_OUTPUT")),
        ticket_source=_ticket_source(text("TICKET_SOURCE")),
        zendesk_subdomain=text("ZENDESK_SUBDOMAIN"),
        zendesk_email=text("ZENDESK_EMAIL"),
        zendesk_api_token=text("ZENDESK_API_TOKEN"),
    )


def freshdesk_base_url(domain: str) -> str:
    """`acme`, `acme.freshdesk.com` or a full URL, as the base URL requests go to."""
    domain = domain.strip().rstrip("/")
    if "://" in domain:
        _check_url("FRESHDESK_DOMAIN", domain)
        return domain
    if _SUBDOMAIN.match(domain):
        return f"https://{domain}.freshdesk.com"
    host_labels = domain.split(".")
    if len(host_labels) >= 2 and all(_SUBDOMAIN.match(label) for label in host_labels):
        return f"https://{domain}"
    raise ConfigError(
        f"FRESHDESK_DOMAIN={domain!r} is not a domain: set it to your subdomain (acme), "
        "acme.freshdesk.com, or a full URL such as https://acme.freshdesk.com"
    )


def zendesk_base_url(subdomain: str) -> str:
    """`acme`, `acme.zendesk.com` or a full URL (proxies, tests), as the base URL requests go to."""
    value = subdomain.strip().rstrip("/")
    if "://" in value:
        _check_url("ZENDESK_SUBDOMAIN", value)
        return value.removesuffix("/api/v2")
    if _SUBDOMAIN.match(value):
        return f"https://{value}.zendesk.com"
    host_labels = value.split(".")
    if len(host_labels) >= 2 and all(_SUBDOMAIN.match(label) for label in host_labels):
        return f"https://{value}"
    raise ConfigError(
        f"ZENDESK_SUBDOMAIN={subdomain!r} is not a subdomain: set it to your subdomain (acme), "
        "acme.zendesk.com, or a full URL such as https://acme.zendesk.com"
    )


def _ticket_source(raw: str | None) -> str:
    if raw is None:
        return DEFAULT_TICKET_SOURCE
    value = raw.lower()
    if value not in TICKET_SOURCES:
        raise ConfigError(
            f"TICKET_SOURCE={raw!r} is invalid: set it to {' or '.join(TICKET_SOURCES)} "
            f"(default {DEFAULT_TICKET_SOURCE}), or leave it out"
        )
    return value


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{name}={url!r} is not an http(s) URL: set it to a base URL such as "
            "http://127.0.0.1:8080/v1"
        )


def _int_setting(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is invalid: set it to a whole number from {low} to {high}")
    return value


def _float_setting(name: str, raw: str | None, default: float, low: float, high: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is invalid: set it to a number from {low} to {high}")
    return value


def _price(name: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    return _float_setting(name, raw, 0.0, 0.0, 1_000_000.0)
