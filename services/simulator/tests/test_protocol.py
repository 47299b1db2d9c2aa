"""Request validation and content generation without a server."""

from __future__ import annotations

from typing import Any

import pytest

from modality.simulator.completions import generate, prompt_tokens
from modality.simulator.errors import InvalidRequest
from modality.simulator.protocol import parse_chat_request

OK: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": OK["messages"]}, None, None),
        ({"model": 3, "messages": OK["messages"]}, "model", "invalid_type"),
        ({"model": "m"}, "messages", "missing_required_parameter"),
        ({"model": "m", "messages": []}, "messages", "empty_array"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", None),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content", None),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", None),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "invalid_value",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]},
            "messages[0].role",
            None,
        ),
        ({**OK, "n": 0}, "n", "integer_below_min_value"),
        ({**OK, "max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({**OK, "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({**OK, "stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        ({**OK, "stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({**OK, "top_logprobs": 2}, "top_logprobs", "invalid_value"),
        ({**OK, "tool_choice": "auto"}, "tool_choice", None),
        ({**OK, "response_format": {"type": "json_object"}}, "messages", None),
        ({**OK, "response_format": {"type": "xml"}}, "response_format.type", "invalid_value"),
        (
            {**OK, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
            "invalid_value",
        ),
    ],
)
def test_invalid_bodies(body: dict[str, Any], param: str | None, code: str | None) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_chat_request(body)
    assert exc.value.param == param
    if code is not None:
        assert exc.value.code == code
    assert exc.value.status == 400


def test_unknown_fields_are_accepted() -> None:
    req = parse_chat_request({**OK, "some_future_field": {"x": 1}, "user": "u1"})
    assert req.model == "m" and req.last_user_text == "hi"


def test_prompt_tokens_follow_openai_overheads() -> None:
    one = parse_chat_request(OK)
    named = parse_chat_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi", "name": "bob"}]}
    )
    two = parse_chat_request({"model": "m", "messages": OK["messages"] * 2})
    assert prompt_tokens(one) == 1 + 4 + 3  # "hi" + message overhead + reply priming
    assert prompt_tokens(named) == prompt_tokens(one) + 2  # the name's token + 1
    assert prompt_tokens(two) == prompt_tokens(one) + 5


def test_stop_inside_a_piece_keeps_the_prefix() -> None:
    req = parse_chat_request(OK)
    text = generate(req, length=20, simulator_seed=0, prompt=1).choices[0].content or ""
    word = text.split()[2]
    req.stop = [word[1:]]  # starts inside a word
    cut = generate(req, length=20, simulator_seed=0, prompt=1).choices[0]
    assert cut.content == text[: text.index(word[1:])]
    assert cut.finish_reason == "stop"
    assert cut.content == "".join(cut.pieces)
