"""Chat completions against any OpenAI-compatible endpoint, with bounded retries and JSON-mode fallback."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import backoff
import openai

from errors import LLMConfigError, LLMError

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

logger = logging.getLogger(__name__)

JSON_MODES = ("json_schema", "json_object", "none")
MAX_TOKENS_CAP = 4096
MAX_RETRY_AFTER = 120.0

# Phrases servers use when they refuse a response_format (llama-cpp-python answers with a 500).
_FORMAT_REFUSAL_HINTS = (
    "response_format",
    "response format",
    "json_schema",
    "json_object",
    "input should be 'text'",
    "structured output",
    "guided_json",
)


class LLMRequestRejected(LLMError):
    """The endpoint refused this one request (400/422 unrelated to JSON mode, e.g. context too long)."""


@dataclass(frozen=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int


class LLMClient:
    """A thread-safe chat client; `calls` and the token totals cover the whole run."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        timeout: float = 60.0,
        max_tokens: int = 700,
        max_tries: int = 5,
        temperature: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        reached: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.max_tokens = max(1, min(int(max_tokens), MAX_TOKENS_CAP))
        self.max_tries = max(1, int(max_tries))
        self.temperature = temperature
        self._api_key = api_key
        self._sleep = sleep
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
        self._lock = threading.Lock()
        self._mode_index = 0
        self._tokens_param = "max_tokens"
        # True once the endpoint answered (a preflight counts): later connection failures are an outage.
        self._reached = reached
        self._active = 0
        self._outage = False
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @property
    def json_mode(self) -> str:
        """The JSON mode in use: json_schema, json_object or none."""
        with self._lock:
            return JSON_MODES[self._mode_index]

    def complete(self, messages: list[dict], schema: dict | None = None) -> ChatResult:
        """One chat completion; with `schema`, ask for JSON in the best mode the server accepts.

        Raises LLMConfigError for a rejected key or unknown model, LLMRequestRejected for a request
        the server refuses outright, and LLMError when the endpoint keeps failing.
        """
        with self._lock:
            self._active += 1
        try:
            return self._complete(messages, schema)
        finally:
            with self._lock:
                self._active -= 1

    def _complete(self, messages: list[dict], schema: dict | None) -> ChatResult:
        delays = backoff.expo(base=2, factor=1, max_value=30)
        next(delays)  # backoff's generators yield None first, to be primed
        tries = 0
        while True:
            with self._lock:
                mode_index, tokens_param = self._mode_index, self._tokens_param
            kwargs = self._request_kwargs(messages, schema, JSON_MODES[mode_index], tokens_param)
            tries += 1
            try:
                response = self._client.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                if self._handle_refusal(exc, schema is not None, mode_index, tokens_param):
                    tries -= 1  # a refused option is not a failed try
                    continue
                self._raise_if_permanent(exc)
                failure, wait = f"HTTP {exc.status_code}", _retry_after(exc)
                error: Exception = exc
            except openai.APIConnectionError as exc:
                timed_out = isinstance(exc, openai.APITimeoutError)
                failure, wait = ("timed out" if timed_out else "connection failed"), None
                error = exc
            else:
                return self._record(response)
            if tries >= self.max_tries:
                raise self._give_up(failure, error, tries)
            delay = wait if wait is not None else backoff.full_jitter(next(delays))
            self._log_failure(failure, tries, delay)
            self._sleep(delay)

    def _log_failure(self, failure: str, tries: int, delay: float) -> None:
        """One warning when the endpoint starts failing (with the calls waiting on it), debug lines after."""
        with self._lock:
            first, self._outage = not self._outage, True
            waiting = self._active
        if first:
            logger.warning("model endpoint %s: %s; %d call(s) waiting, each tried up to %d times with backoff",
                           self.base_url, failure, waiting, self.max_tries)
        logger.debug("model endpoint %s: %s, try %d of %d; retrying in %.1fs",
                     self.base_url, failure, tries, self.max_tries, delay)

    def _request_kwargs(
        self, messages: list[dict], schema: dict | None, mode: str, tokens_param: str
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            tokens_param: self.max_tokens,
        }
        if schema is not None and mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        elif schema is not None and mode == "json_object":
            # llama-cpp-python constrains the output to a schema given here; others ignore it.
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        return kwargs

    def _handle_refusal(
        self, exc: openai.APIStatusError, wants_json: bool, mode_index: int, tokens_param: str
    ) -> bool:
        """Step down to the next option when the server refuses one we sent; True to try again at once."""
        if exc.status_code not in (400, 422, 500):
            return False
        message = _error_text(exc).lower()
        if tokens_param == "max_tokens" and "max_completion_tokens" in message:
            with self._lock:
                self._tokens_param = "max_completion_tokens"
            logger.info("model endpoint %s wants max_completion_tokens; using it from now on", self.base_url)
            return True
        sent_format = wants_json and JSON_MODES[mode_index] != "none"
        if not sent_format:
            return False
        # A 4xx to a request carrying response_format is taken as a refusal only when it names it,
        # so that e.g. "context length exceeded" does not downgrade JSON mode for the whole run.
        if not any(hint in message for hint in _FORMAT_REFUSAL_HINTS):
            return False
        with self._lock:
            # Another thread may have stepped down already; never step back up.
            self._mode_index = max(self._mode_index, mode_index + 1)
            new_mode = JSON_MODES[self._mode_index]
        logger.info(
            "model endpoint %s refused response_format %s (HTTP %d); using %s for the rest of the run",
            self.base_url, JSON_MODES[mode_index], exc.status_code, new_mode,
        )
        return True

    def _raise_if_permanent(self, exc: openai.APIStatusError) -> None:
        status = exc.status_code
        detail = self._scrub(_error_text(exc))
        if status in (401, 403):
            raise LLMConfigError(
                f"the model endpoint {self.base_url} rejected LLM_API_KEY ({status}): {detail}; "
                "check LLM_API_KEY in .env"
            ) from None
        if status == 404:
            raise LLMConfigError(
                f"the model endpoint {self.base_url} answered 404 for model {self.model!r}: {detail}; "
                "check LLM_MODEL (and that LLM_API_BASE_URL ends in /v1)"
            ) from None
        if status in (400, 413, 422):
            raise LLMRequestRejected(
                f"the model endpoint {self.base_url} refused the request (HTTP {status}): {detail}"
            ) from None
        if 400 <= status < 500 and status not in (408, 409, 429):
            raise LLMError(
                f"the model endpoint {self.base_url} answered HTTP {status}: {detail}; "
                "check LLM_API_BASE_URL and LLM_MODEL"
            ) from None

    def _give_up(self, failure: str, error: Exception, tries: int) -> LLMError:
        detail = self._scrub(_error_text(error))
        if not self._reached and failure in ("timed out", "connection failed"):
            return LLMConfigError(
                f"could not reach the model endpoint {self.base_url} ({failure}) after {tries} tries: "
                f"{detail}; check LLM_API_BASE_URL and that the server is running"
            )
        return LLMError(
            f"model endpoint {self.base_url} kept failing ({failure}) after {tries} tries: {detail}; "
            "the run stopped with its checkpoint saved, run again later"
        )

    def _record(self, response: ChatCompletion) -> ChatResult:
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice is not None and choice.message else None) or ""
        usage = response.usage
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        with self._lock:
            self._reached = True
            recovered, self._outage = self._outage, False
            self.calls += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
        if recovered:
            logger.info("model endpoint %s answers again", self.base_url)
        logger.debug(
            "model call: prompt_tokens=%d completion_tokens=%d finish_reason=%s",
            prompt, completion, getattr(choice, "finish_reason", None),
        )
        return ChatResult(text=text, prompt_tokens=prompt, completion_tokens=completion)

    def _scrub(self, text: str) -> str:
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return " ".join(text.split())[:300]


def _error_text(exc: Exception) -> str:
    """The server's own message when the body carries one, else the exception text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("detail"):
            return str(body["detail"])
    return str(exc)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), capped."""
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return min(max(float(raw) * scale, 0.0), MAX_RETRY_AFTER)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None
