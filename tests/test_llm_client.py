"""LLMClient against the fake OpenAI server over real HTTP: retries, JSON modes, errors, tokens."""

from __future__ import annotations

import json
import logging
import threading

import openai
import pytest

from errors import LLMConfigError, LLMError
from llm_client import LLMClient, LLMRequestRejected
from prompts_config import ANSWER_SCHEMA
from tests.fake_openai import LLAMA_CPP_REFUSAL, FakeOpenAI

MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "hello there"}]
KEY = "sk-test-secret-0123456789"


@pytest.fixture
def fake():
    with FakeOpenAI(api_key=KEY) as server:
        yield server


class Sleeps(list):
    """An injected sleep that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(fake: FakeOpenAI, sleeps: Sleeps | None = None, **kwargs) -> LLMClient:
    return LLMClient(fake.base_url, KEY, "fake-model", sleep=sleeps if sleeps is not None else Sleeps(),
                     **kwargs)


def test_complete_returns_text_and_tokens_and_sends_schema(fake):
    fake.script('{"ok": true}')
    client = make_client(fake)
    result = client.complete(MESSAGES, schema=ANSWER_SCHEMA)
    assert result.text == '{"ok": true}'
    assert result.prompt_tokens == len("Answer in JSON.hello there") // 4
    assert result.completion_tokens == len('{"ok": true}') // 4
    sent = fake.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == ANSWER_SCHEMA
    assert sent["max_tokens"] == 700
    assert sent["temperature"] == 0.0
    assert fake.headers[0]["authorization"] == f"Bearer {KEY}"
    assert client.json_mode == "json_schema"


def test_no_schema_sends_no_response_format(fake):
    fake.script("plain text")
    client = make_client(fake)
    assert client.complete(MESSAGES).text == "plain text"
    assert "response_format" not in fake.requests[0]


def test_max_tokens_is_capped(fake):
    client = make_client(fake, max_tokens=1_000_000)
    client.complete(MESSAGES)
    assert fake.requests[0]["max_tokens"] == 4096


def test_run_totals_sum_every_call(fake):
    fake.script("a" * 40, "b" * 80, "c" * 8)
    client = make_client(fake)
    results = [client.complete(MESSAGES) for _ in range(3)]
    assert client.calls == 3
    assert client.completion_tokens == 10 + 20 + 2
    assert client.prompt_tokens == sum(r.prompt_tokens for r in results) == 3 * results[0].prompt_tokens


def test_totals_are_thread_safe(fake):
    client = make_client(fake)
    def work() -> None:
        for _ in range(5):
            client.complete(MESSAGES)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.calls == 20 == fake.calls
    single = len("Answer in JSON.hello there") // 4
    assert client.prompt_tokens == 20 * single


def test_429_with_retry_after_is_honoured(fake):
    fake.script(FakeOpenAI.error(429, "slow down", headers={"Retry-After": "7"}), "fine")
    sleeps = Sleeps()
    client = make_client(fake, sleeps)
    assert client.complete(MESSAGES).text == "fine"
    assert sleeps == [7.0]
    assert fake.calls == 2
    assert client.calls == 1


def test_500_then_success_backs_off(fake):
    fake.script(FakeOpenAI.error(500, "boom"), FakeOpenAI.error(503, "busy"), "fine")
    sleeps = Sleeps()
    client = make_client(fake, sleeps)
    assert client.complete(MESSAGES).text == "fine"
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2  # full jitter over 1s, 2s


def test_permanent_500_raises_llm_error_after_bounded_tries(fake, caplog):
    fake.script(*[FakeOpenAI.error(500, "model crashed")] * 10)
    sleeps = Sleeps()
    client = make_client(fake, sleeps, max_tries=5)
    with pytest.raises(LLMError) as info:
        client.complete(MESSAGES, schema=ANSWER_SCHEMA)
    assert not isinstance(info.value, LLMConfigError)
    message = str(info.value)
    assert fake.base_url in message and "HTTP 500" in message and "after 5 tries" in message
    assert "model crashed" in message
    assert KEY not in message
    assert fake.calls == 5 and len(sleeps) == 4
    assert KEY not in caplog.text


def test_dropped_connection_is_retried(fake):
    fake.script(FakeOpenAI.drop(), "after drop")
    sleeps = Sleeps()
    client = make_client(fake, sleeps)
    assert client.complete(MESSAGES).text == "after drop"
    assert fake.calls == 2 and len(sleeps) == 1


def test_timeout_is_retried_then_succeeds(fake):
    fake.script({"content": "late", "delay": 1.0}, "on time")
    client = make_client(fake, timeout=0.2)
    assert client.complete(MESSAGES).text == "on time"


def test_unreachable_endpoint_at_first_call_is_a_config_error():
    with FakeOpenAI() as server:
        url = server.base_url
    client = LLMClient(url, KEY, "m", sleep=Sleeps(), max_tries=2)
    with pytest.raises(LLMConfigError, match="could not reach the model endpoint .*LLM_API_BASE_URL"):
        client.complete(MESSAGES)


def test_endpoint_lost_mid_run_is_a_run_failure(fake):
    client = make_client(fake, max_tries=2)
    client.complete(MESSAGES)
    fake.script(FakeOpenAI.drop(), FakeOpenAI.drop())
    with pytest.raises(LLMError, match="kept failing \\(connection failed\\) after 2 tries") as info:
        client.complete(MESSAGES)
    assert not isinstance(info.value, LLMConfigError)


def test_json_schema_refused_falls_back_and_is_remembered():
    with FakeOpenAI(json_schema_supported=False) as fake:
        sleeps = Sleeps()
        client = make_client(fake, sleeps)
        assert client.complete(MESSAGES, schema=ANSWER_SCHEMA).text
        modes = [r.get("response_format", {}).get("type") for r in fake.requests]
        assert modes == ["json_schema", "json_object"]
        assert client.json_mode == "json_object"
        assert sleeps == []  # a refusal is not a transient failure
        client.complete(MESSAGES, schema=ANSWER_SCHEMA)
        assert fake.requests[2]["response_format"] == {"type": "json_object", "schema": ANSWER_SCHEMA}
        assert fake.calls == 3


def test_fake_refuses_json_schema_like_llama_cpp():
    with FakeOpenAI(json_schema_supported=False) as fake:
        sdk = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0, timeout=5)
        fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER_SCHEMA}}
        with pytest.raises(openai.InternalServerError) as info:
            sdk.chat.completions.create(model="m", messages=MESSAGES, response_format=fmt)
        json_object = {"type": "json_object"}
        reply = sdk.chat.completions.create(model="m", messages=MESSAGES, response_format=json_object)
    assert info.value.status_code == 500
    assert info.value.body["message"] == LLAMA_CPP_REFUSAL  # the SDK unwraps "error"
    assert "Input should be 'text' or 'json_object'" in LLAMA_CPP_REFUSAL
    assert reply.choices[0].finish_reason == "stop" and reply.usage.total_tokens > 0


def test_both_json_modes_refused_falls_back_to_no_response_format(fake):
    fake.script(
        FakeOpenAI.error(400, "response_format json_schema is not supported"),
        FakeOpenAI.error(422, "unknown response_format type json_object"),
        '{"a": 1}',
    )
    client = make_client(fake)
    assert client.complete(MESSAGES, schema=ANSWER_SCHEMA).text == '{"a": 1}'
    assert client.json_mode == "none"
    assert "response_format" not in fake.requests[2]


def test_plain_400_is_a_rejected_request_not_a_mode_change(fake):
    fake.script(FakeOpenAI.error(400, "This model's maximum context length is 4096 tokens"))
    client = make_client(fake)
    with pytest.raises(LLMRequestRejected, match="maximum context length"):
        client.complete(MESSAGES, schema=ANSWER_SCHEMA)
    assert client.json_mode == "json_schema"
    assert fake.calls == 1


def test_max_completion_tokens_requirement_is_followed(fake):
    refusal = "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
    fake.script(FakeOpenAI.error(400, refusal), "ok")
    client = make_client(fake)
    assert client.complete(MESSAGES).text == "ok"
    assert fake.requests[1]["max_completion_tokens"] == 700 and "max_tokens" not in fake.requests[1]


def test_wrong_key_is_a_config_error_without_the_key():
    with FakeOpenAI(api_key="the-right-key") as fake:
        client = LLMClient(fake.base_url, KEY, "m", sleep=Sleeps())
        with pytest.raises(LLMConfigError) as info:
            client.complete(MESSAGES)
    message = str(info.value)
    assert "rejected LLM_API_KEY (401)" in message and KEY not in message
    assert info.value.exit_code == 2
    assert fake.calls == 0  # the fake refuses before counting a chat call; and there is no retry
    assert len(fake.headers) == 1


def test_key_echoed_by_server_is_scrubbed(fake):
    fake.script(FakeOpenAI.error(403, f"key {KEY} has no access"))
    client = make_client(fake)
    with pytest.raises(LLMConfigError) as info:
        client.complete(MESSAGES)
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_unknown_model_names_llm_model():
    with FakeOpenAI(models={"real-model"}) as fake:
        client = LLMClient(fake.base_url, KEY, "no-such-model", sleep=Sleeps())
        with pytest.raises(LLMConfigError, match="LLM_MODEL") as info:
            client.complete(MESSAGES)
    assert "no-such-model" in str(info.value)


def test_seeded_fail_rate_is_absorbed_by_retries():
    with FakeOpenAI(fail_rate=0.3, seed=7) as fake:
        sleeps = Sleeps()
        client = make_client(fake, sleeps, max_tries=10)
        for _ in range(10):
            json.loads(client.complete(MESSAGES, schema=ANSWER_SCHEMA).text)
    assert client.calls == 10
    assert fake.calls == 10 + len(sleeps)
    assert len(sleeps) > 0


def test_token_counts_logged_at_debug(fake, caplog):
    caplog.set_level(logging.DEBUG, logger="llm_client")
    client = make_client(fake)
    client.complete(MESSAGES)
    assert "prompt_tokens=" in caplog.text and "completion_tokens=" in caplog.text
    assert KEY not in caplog.text
