"""Checks made before a command spends anything: the model answers, and the DB's folder can be written.

A run that would call the model asks it one cheap question first (the models list, else a one-token
completion), so an unreachable endpoint or an unknown model stops the run before any ticket is fetched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from errors import LLMConfigError, UnwritableFolderError

if TYPE_CHECKING:
    import openai

    from env import LLMSettings

# Seconds each of the (at most two) requests may take, so the whole check stays under 10 s.
REQUEST_TIMEOUT = 4.0


@dataclass(frozen=True)
class ModelStatus:
    """What the endpoint said: reachable or not, the model name it answers to, and the problem and fix if not."""

    base_url: str
    model: str
    reachable: bool
    answers_to: str | None = None
    problem: str = ""
    fix: str = ""

    def describe(self) -> str:
        if self.reachable:
            return f"Model endpoint: {self.base_url} answers as {self.answers_to}"
        return f"Model endpoint: {self.base_url} does NOT answer ({self.problem})"

    def to_dict(self) -> dict[str, object]:
        return {"base_url": self.base_url, "model": self.model, "reachable": self.reachable,
                "answers_to": self.answers_to, "problem": self.problem}


_CHECK_URL = "check LLM_API_BASE_URL and that the server is running"
_CHECK_KEY = "check LLM_API_KEY in .env"
_CHECK_MODEL = "check LLM_MODEL"


def probe_model(settings: LLMSettings, timeout: float = REQUEST_TIMEOUT) -> ModelStatus:
    """Ask the endpoint which models it serves (one GET); when that list lacks LLM_MODEL or the server has
    none, one 1-token completion. Never raises for what the endpoint does."""
    import openai

    client = openai.OpenAI(base_url=settings.base_url, api_key=settings.api_key or "none",
                           timeout=timeout, max_retries=0)
    status = partial(ModelStatus, settings.base_url, settings.model)
    try:
        try:
            served = [model.id for model in client.models.list().data]
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            raise
        except openai.APIStatusError:
            served = []  # a server without the models list: the completion tells instead
        if settings.model in served:
            return status(True, settings.model)
        return _one_token(client, settings, served, status)
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        return status(False, problem=f"it rejected LLM_API_KEY ({exc.status_code}): {_detail(exc, settings)}",
                      fix=_CHECK_KEY)
    except openai.APITimeoutError:
        return status(False, problem=f"no answer within {timeout:g} s", fix=_CHECK_URL)
    except openai.APIConnectionError:
        return status(False, problem="connection failed", fix=_CHECK_URL)
    finally:
        client.close()


def _one_token(client: openai.OpenAI, settings: LLMSettings, served: list[str],
               status: Callable[..., ModelStatus]) -> ModelStatus:
    """Servers that list one model may still answer to any name (llama.cpp): ask for one token to be sure.

    Only an answer that the model does not exist fails; a server error (5xx, 429) means the endpoint is
    there, and the run's own retries deal with it."""
    import openai

    try:
        reply = client.chat.completions.create(
            model=settings.model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    except (openai.NotFoundError, openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        detail = _detail(exc, settings)
        if exc.status_code != 404 and "model" not in detail.lower():
            return status(True, settings.model)  # refused the ping itself, not the model
        listed = f"; it serves {', '.join(served[:5])}" if served else ""
        return status(False, problem=f"HTTP {exc.status_code} for model {settings.model!r}: {detail}{listed}",
                      fix=_CHECK_MODEL + " (and that LLM_API_BASE_URL ends in /v1)")
    except openai.APIStatusError as exc:
        if exc.status_code in (401, 403):
            raise
        return status(True, settings.model)
    return status(True, getattr(reply, "model", None) or settings.model)


def _detail(exc: openai.APIStatusError, settings: LLMSettings) -> str:
    """The server's own message, without the key, on one short line."""
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    text = str(inner.get("message") or exc.message) if isinstance(inner, dict) else str(exc.message)
    if settings.api_key and len(settings.api_key) >= 4:
        text = text.replace(settings.api_key, "***")
    return " ".join(text.split())[:200]


def require_model(settings: LLMSettings, timeout: float = REQUEST_TIMEOUT) -> ModelStatus:
    """The model's status, or LLMConfigError (exit 2) naming the problem and the fix when it does not answer."""
    status = probe_model(settings, timeout)
    if not status.reachable:
        raise LLMConfigError(f"the model endpoint {status.base_url} does not answer for model {status.model!r} "
                             f"({status.problem})", f"{status.fix}; nothing was fetched")
    return status


def require_writable_folder(db: Path) -> None:
    """Create the DB's folder if needed and write a probe file there; UnwritableFolderError (exit 2) if not."""
    folder = db.parent if str(db.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".{db.stem}.", suffix=".probe", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            why = "a file is in the way of a folder"
        raise UnwritableFolderError(f"cannot write the DB's folder {folder} ({why})",
                                    "choose a writable place for the DB; nothing was fetched") from None
