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
    """What the endpoint said: reachable or not, the model name it answers to, and the problem if any."""

    base_url: str
    model: str
    reachable: bool
    answers_to: str | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.reachable:
            return f"Model endpoint: {self.base_url} answers as {self.answers_to}"
        return f"Model endpoint: {self.base_url} does NOT answer ({self.problem})"

    def to_dict(self) -> dict[str, object]:
        return {"base_url": self.base_url, "model": self.model, "reachable": self.reachable,
                "answers_to": self.answers_to, "problem": self.problem}


def probe_model(settings: LLMSettings, timeout: float = REQUEST_TIMEOUT) -> ModelStatus:
    """Ask the endpoint which models it serves (one GET); if it cannot list them, one 1-token completion."""
    import openai

    client = openai.OpenAI(base_url=settings.base_url, api_key=settings.api_key or "none",
                           timeout=timeout, max_retries=0)
    status = _status(settings)
    try:
        try:
            served = [model.id for model in client.models.list().data]
        except openai.NotFoundError:
            served = []  # a server without the models list: a completion tells instead
        if settings.model in served:
            return status(True, settings.model)
        return _one_token(client, settings, served, status)
    except openai.AuthenticationError:
        return status(False, problem="the endpoint rejected LLM_API_KEY (401)")
    except openai.PermissionDeniedError:
        return status(False, problem="the endpoint refused LLM_API_KEY (403)")
    except openai.APITimeoutError:
        return status(False, problem=f"no answer within {timeout:g} s")
    except openai.APIConnectionError:
        return status(False, problem="connection failed")
    except openai.APIStatusError as exc:
        return status(False, problem=f"HTTP {exc.status_code}")
    finally:
        client.close()


def _status(settings: LLMSettings) -> Callable[..., ModelStatus]:
    return partial(ModelStatus, settings.base_url, settings.model)


def _one_token(client: openai.OpenAI, settings: LLMSettings, served: list[str],
               status: Callable[..., ModelStatus]) -> ModelStatus:
    """Servers that list one model may still answer to any name (llama.cpp): ask for one token to be sure."""
    import openai

    try:
        reply = client.chat.completions.create(
            model=settings.model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    except (openai.NotFoundError, openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        listed = f"; it serves {', '.join(served[:5])}" if served else ""
        return status(False, problem=f"HTTP {exc.status_code} for model {settings.model!r}{listed}")
    return status(True, getattr(reply, "model", None) or settings.model)


def require_model(settings: LLMSettings, timeout: float = REQUEST_TIMEOUT) -> ModelStatus:
    """The model's status, or LLMConfigError (exit 2) naming what to check when it does not answer."""
    status = probe_model(settings, timeout)
    if not status.reachable:
        raise LLMConfigError(
            f"the model endpoint {status.base_url} does not answer for model {status.model!r} ({status.problem})",
            "check LLM_API_BASE_URL, LLM_MODEL and LLM_API_KEY, and that the server is running; "
            "nothing was fetched",
        )
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
