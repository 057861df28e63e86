"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests: chat completions, embeddings, models.

Replies are scripted (a queue) or computed by a responder callable. A reply is one of:
- a str: a successful completion whose message content is that text;
- ``FakeOpenAI.error(status, message, headers=...)``: an HTTP error with an OpenAI-style body;
- ``FakeOpenAI.drop()``: the connection is closed without an answer;
- a dict ``{"content": str, "finish_reason": ..., "delay": seconds}`` for finer control.
Consolidation questions (two issues between <issues> tags) go to `consolidation`, which by default
says "same problem" when both issues have the same category.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Any
Responder = Callable[[dict], Reply]

LLAMA_CPP_REFUSAL = (
    "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
    "  Input should be 'text' or 'json_object' [type=literal_error, input_value='json_schema', "
    "input_type=str]"
)

DEFAULT_ANSWER = {
    "issue_id": None,
    "category": "General problem",
    "keywords": ["general"],
    "root_cause": "Unknown.",
    "resolution_steps": ["Investigate."],
    "confidence": 0.9,
    "notes": "default fake answer",
}


def _default_responder(request: dict) -> Reply:
    return json.dumps(DEFAULT_ANSWER)


def _first_user_message(request: dict) -> str:
    return next((m.get("content") or "" for m in request.get("messages", []) if m.get("role") == "user"), "")


def candidates_in(request: dict) -> list[dict]:
    """The candidate issues a chat request offers (the JSON array inside <candidates>), for responders."""
    match = re.search(r"<candidates>\s*(.*?)\s*</candidates>", _first_user_message(request), re.DOTALL)
    return json.loads(match.group(1)) if match else []


def issues_in(request: dict) -> list[dict]:
    """The two issues of a consolidation request (the JSON array inside <issues>), [] for a ticket's."""
    match = re.search(r"<issues>\s*(.*?)\s*</issues>", _first_user_message(request), re.DOTALL)
    return json.loads(match.group(1)) if match else []


def same_category(request: dict) -> Reply:
    """Answers a consolidation request: the same problem when both issues have the same category."""
    first, second = issues_in(request)
    same = first["category"].casefold() == second["category"].casefold()
    return json.dumps({"same_problem": same, "keep_issue_id": min(first["issue_id"], second["issue_id"]) if same
                       else None, "confidence": 0.9, "notes": "same category" if same else "different"})


def ticket_in(request: dict) -> str:
    """The ticket text of a chat request (inside <ticket>), for responders."""
    match = re.search(r"<ticket>\s*(.*?)\s*</ticket>", _first_user_message(request), re.DOTALL)
    return match.group(1) if match else ""


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def hashed_embedding(text: str, dim: int = 384) -> list[float]:
    """A deterministic unit vector: hashed bag of words, so texts sharing words are similar."""
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        index = int.from_bytes(digest[:4], "big") % dim
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    if not any(vector):
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        vector[int.from_bytes(digest[:4], "big") % dim] = 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


class FakeOpenAI:
    """A threaded fake of an OpenAI-compatible server; use as a context manager."""

    def __init__(
        self,
        responder: Responder | None = None,
        api_key: str | None = None,
        latency: float = 0.0,
        json_schema_supported: bool = True,
        fail_rate: float = 0.0,
        seed: int = 0,
        models: set[str] | None = None,
        embedding_dim: int = 384,
        consolidation: Responder = same_category,
    ) -> None:
        self.responder = responder or _default_responder
        # Consolidation questions (two issues, no ticket) go here, so ticket responders need not know them.
        self.consolidation = consolidation
        self.api_key = api_key
        self.latency = latency
        self.json_schema_supported = json_schema_supported
        self.fail_rate = fail_rate
        self.models = models
        self.embedding_dim = embedding_dim
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._script: collections.deque[Reply] = collections.deque()
        self.requests: list[dict] = []  # chat request bodies, in arrival order
        self.embedding_requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.calls = 0
        self.embedding_calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------------------------

    @staticmethod
    def error(status: int, message: str = "error", headers: dict[str, str] | None = None,
              code: str | None = None) -> dict:
        """A scripted HTTP error reply with an OpenAI-style JSON body."""
        body = {"error": {"message": message, "type": "error", "param": None, "code": code}}
        return {"status": status, "body": body, "headers": headers or {}}

    @staticmethod
    def drop() -> dict:
        """A scripted reply that closes the connection without answering."""
        return {"drop": True}

    def script(self, *replies: Reply) -> FakeOpenAI:
        """Queue replies; they are served before the responder is asked."""
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def user_messages(self, index: int = -1) -> list[str]:
        """The user-role contents of one recorded chat request."""
        return [m["content"] for m in self.requests[index]["messages"] if m.get("role") == "user"]

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        # A short poll interval keeps shutdown (and so each test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- serving ---------------------------------------------------------------------------------

    def _next_chat_reply(self, request: dict) -> Reply:
        with self._lock:
            self.calls += 1
            self.requests.append(request)
            if self.fail_rate and self._random.random() < self.fail_rate:
                return self.error(500, "random fake failure")
            fmt = request.get("response_format") or {}
            if not self.json_schema_supported and fmt.get("type") == "json_schema":
                return {"status": 500, "body": {"error": {"message": LLAMA_CPP_REFUSAL,
                                                          "type": "internal_server_error"}},
                        "headers": {}}
            if self.models is not None and request.get("model") not in self.models:
                return self.error(404, f"The model `{request.get('model')}` does not exist.",
                                  code="model_not_found")
            if self._script:
                return self._script.popleft()
        return self.consolidation(request) if issues_in(request) else self.responder(request)

    def _completion(self, request: dict, reply: dict) -> dict:
        content = reply["content"]
        prompt = "".join(str(m.get("content") or "") for m in request.get("messages", []))
        prompt_tokens, completion_tokens = _approx_tokens(prompt), _approx_tokens(content)
        return {
            "id": f"chatcmpl-fake{self.calls}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": reply.get("finish_reason", "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _embeddings(self, request: dict) -> dict:
        inputs = request.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        tokens = sum(_approx_tokens(str(t)) for t in texts)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i,
                 "embedding": hashed_embedding(str(t), self.embedding_dim)}
                for i, t in enumerate(texts)
            ],
            "model": request.get("model", "fake-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if fake.api_key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                    return True
                self._send(401, {"error": {"message": "Incorrect API key provided.",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}})
                return False

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if self._authorised():
                    names = sorted(fake.models) if fake.models is not None else ["fake-model"]
                    self._send(200, {"object": "list", "data": [
                        {"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                with fake._lock:
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if fake.latency:
                    time.sleep(fake.latency)
                if not self._authorised():
                    return
                path = self.path.rstrip("/")
                if path == "/v1/embeddings":
                    with fake._lock:
                        fake.embedding_calls += 1
                        fake.embedding_requests.append(request)
                    self._send(200, fake._embeddings(request))
                    return
                if path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = fake._next_chat_reply(request)
                if isinstance(reply, str):
                    reply = {"content": reply}
                if reply.get("delay"):
                    time.sleep(reply["delay"])
                if reply.get("drop"):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if "status" in reply:
                    self._send(reply["status"], reply.get("body", {}), reply.get("headers"))
                    return
                self._send(200, fake._completion(request, reply))

        return Handler
