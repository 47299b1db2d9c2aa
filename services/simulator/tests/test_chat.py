"""Non-streaming chat completions through the official openai client."""

from __future__ import annotations

import json

import pytest
from openai import BadRequestError, NotFoundError, OpenAI

USER = [{"role": "user", "content": "Summarise the attached contract clause for me."}]


def test_completion_says_it_is_simulated_and_counts_usage(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    assert raw.headers["x-modality-simulator"] == "true"
    completion = raw.parse()
    assert completion.model == "gpt-4o"
    assert completion.system_fingerprint == "modality-simulator"
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.endswith(".")
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == 16  # the simulator's default completion length
    # gpt-4o counts 17: 10 content tokens (o200k_base) + 3 per message + 1 for the role
    # + 3 to prime the reply; the estimator is allowed to be one token off
    assert abs(usage.prompt_tokens - 17) <= 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_same_request_same_answer_and_seed_changes_it(client: OpenAI) -> None:
    first = client.chat.completions.create(model="gpt-4o", messages=USER)
    again = client.chat.completions.create(model="gpt-4o", messages=USER)
    seeded = client.chat.completions.create(model="gpt-4o", messages=USER, seed=7)
    other = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Something else entirely."}]
    )
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.id != again.id
    assert seeded.choices[0].message.content != first.choices[0].message.content
    assert other.choices[0].message.content != first.choices[0].message.content


def test_profile_sets_completion_length_and_unknown_models_answer(client: OpenAI) -> None:
    mini = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert mini.usage is not None and mini.usage.completion_tokens == 24
    other = client.chat.completions.create(
        model="accounts/fireworks/models/llama-v3p1-8b-instruct", messages=USER
    )
    assert other.model == "accounts/fireworks/models/llama-v3p1-8b-instruct"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_truncates_with_finish_length(client: OpenAI, field: str) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        **{field: 5},  # type: ignore[arg-type]
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_stop_sequence_cuts_the_answer(client: OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o", messages=USER)
    text = full.choices[0].message.content or ""
    stop = text.split()[3]  # a word from the middle of the answer
    cut = client.chat.completions.create(model="gpt-4o", messages=USER, stop=[stop])
    content = cut.choices[0].message.content or ""
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in content
    assert text.startswith(content)
    assert cut.usage is not None and 0 < cut.usage.completion_tokens < 16


def test_n_choices(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=USER, n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert len({c.message.content for c in completion.choices}) == 3
    assert completion.usage is not None and completion.usage.completion_tokens == 48


def test_json_object_mode_returns_json(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Reply in JSON with your answer."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_json_schema_mode_follows_the_schema(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}},
            "level": {"enum": ["low", "high"]},
            "owner": {"$ref": "#/$defs/person"},
        },
        "required": ["title", "score", "tags", "level", "owner"],
        "additionalProperties": False,
        "$defs": {"person": {"type": "object", "properties": {"email": {"type": "string"}}}},
    }
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    )
    value = json.loads(completion.choices[0].message.content or "")
    assert set(value) == {"title", "score", "tags", "level", "owner"}
    assert isinstance(value["title"], str) and 1 <= value["score"] <= 5
    assert all(isinstance(t, str) for t in value["tags"]) and value["level"] in ("low", "high")
    assert isinstance(value["owner"]["email"], str)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
SEARCH = {"type": "function", "function": {"name": "search_docs", "parameters": {}}}


def test_forced_tool_returns_tool_call_with_json_arguments(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        tools=[WEATHER, SEARCH],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    message = completion.choices[0].message
    assert message.content is None and message.tool_calls
    call = message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.id.startswith("call_")
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments["city"], str) and isinstance(arguments["days"], int)


def test_required_and_auto_tool_choice(client: OpenAI) -> None:
    required = client.chat.completions.create(
        model="gpt-4o", messages=USER, tools=[WEATHER, SEARCH], tool_choice="required"
    )
    assert required.choices[0].finish_reason == "tool_calls"
    assert required.choices[0].message.tool_calls
    plain = client.chat.completions.create(model="gpt-4o", messages=USER, tools=[WEATHER])
    assert plain.choices[0].message.tool_calls is None
    assert plain.choices[0].finish_reason == "stop"
    asks = [{"role": "user", "content": "Use search_docs to find the refund policy."}]
    auto = client.chat.completions.create(model="gpt-4o", messages=asks, tools=[WEATHER, SEARCH])
    calls = auto.choices[0].message.tool_calls
    assert calls and [c.function.name for c in calls] == ["search_docs"]
    assert json.loads(calls[0].function.arguments) == {}
    # once the tool has answered, "auto" replies in words instead of calling it again
    follow_up = [
        *asks,
        {"role": "assistant", "content": None, "tool_calls": [calls[0].model_dump()]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Refunds within 30 days."},
    ]
    answer = client.chat.completions.create(
        model="gpt-4o",
        messages=follow_up,  # type: ignore[arg-type]
        tools=[WEATHER, SEARCH],
    )
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls


def test_logprobs_are_well_formed(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=USER, logprobs=True, top_logprobs=3, max_tokens=6
    )
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert "".join(t.token for t in logprobs.content) == completion.choices[0].message.content
    for entry in logprobs.content:
        assert entry.logprob <= 0
        assert bytes(entry.bytes or []) == entry.token.encode()
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token
        assert [t.logprob for t in entry.top_logprobs] == sorted(
            (t.logprob for t in entry.top_logprobs), reverse=True
        )


def test_image_parts_count_as_prompt_tokens(client: OpenAI) -> None:
    text_only = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    )
    with_image = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "image_url", "image_url": {"url": "data:,", "detail": "low"}},
                ],
            }
        ],
    )
    assert text_only.usage is not None and with_image.usage is not None
    assert with_image.usage.prompt_tokens - text_only.usage.prompt_tokens == 85


def test_bad_requests_get_openai_errors(client: OpenAI) -> None:
    with pytest.raises(BadRequestError) as missing_messages:
        client.chat.completions.create(model="gpt-4o", messages=None)  # type: ignore[arg-type]
    assert missing_messages.value.param == "messages"
    assert missing_messages.value.code == "missing_required_parameter"
    with pytest.raises(BadRequestError) as bad_role:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "robot", "content": "hi"}],  # type: ignore[misc,list-item]
        )
    assert bad_role.value.param == "messages[0].role"
    assert bad_role.value.code == "invalid_value"
    with pytest.raises(BadRequestError) as no_model:
        client.chat.completions.create(model="", messages=USER)
    assert "model" in no_model.value.message
    with pytest.raises(BadRequestError) as too_long:
        client.chat.completions.create(model="tiny-context", messages=USER * 10)
    assert too_long.value.code == "context_length_exceeded"


def test_unknown_fine_tuned_model_is_404(client: OpenAI) -> None:
    with pytest.raises(NotFoundError) as exc:
        client.chat.completions.create(model="ft:gpt-4o-mini:org:x:abcdef12", messages=USER)
    assert exc.value.code == "model_not_found"


def test_models_are_listed(client: OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"gpt-4o", "gpt-4o-mini", "flaky-model"} <= ids
    assert client.models.retrieve("gpt-4o").owned_by == "modality-simulator"
