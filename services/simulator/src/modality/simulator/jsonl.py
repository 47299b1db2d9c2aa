"""Validation of fine-tuning files in OpenAI's chat format, one example per line:
``{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": ...}, ...]}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from modality.simulator.errors import InvalidRequest
from modality.simulator.tokens import REPLY_PRIMING, count_tokens, message_overhead

TRAINING_ROLES = ("system", "developer", "user", "assistant", "tool")


@dataclass(frozen=True, slots=True)
class TrainingFileSummary:
    examples: int
    tokens: int


def _bad(line: int, reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid file format for fine-tuning: line {line}: {reason}",
        param="file",
        code="invalid_file_format",
    )


def _text(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("text"), str) for p in content
    ):
        return " ".join(p["text"] for p in content)
    return None


def _example_tokens(line: int, example: Any) -> int:
    if not isinstance(example, dict):
        raise _bad(line, "expected a JSON object")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad(line, "missing 'messages' (a non-empty array of chat messages)")
    tokens = REPLY_PRIMING
    assistants = 0
    for m, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(line, f"messages[{m}] is not an object")
        role = message.get("role")
        if role not in TRAINING_ROLES:
            raise _bad(line, f"messages[{m}].role {role!r} is not one of {list(TRAINING_ROLES)}")
        content = message.get("content")
        text = _text(content)
        if role == "assistant":
            assistants += 1
            if text is None and not message.get("tool_calls") and content is not None:
                raise _bad(line, f"messages[{m}].content must be a string")
            if text is None and not message.get("tool_calls"):
                raise _bad(line, f"messages[{m}] (assistant) has neither content nor tool_calls")
        elif text is None:
            raise _bad(line, f"messages[{m}].content must be a string")
        weight = message.get("weight")
        if weight is not None and weight not in (0, 1):
            raise _bad(line, f"messages[{m}].weight must be 0 or 1")
        tokens += message_overhead(False) + count_tokens(text or "")
    if assistants == 0:
        raise _bad(line, "no assistant message to learn from")
    return tokens


def validate_training_file(content: bytes) -> TrainingFileSummary:
    """Check every line; raise :class:`InvalidRequest` naming the first bad line."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"Invalid file format for fine-tuning: not UTF-8 ({exc.reason} at byte {exc.start}).",
            param="file",
            code="invalid_file_format",
        ) from exc
    examples = tokens = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            example = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _bad(number, f"not valid JSON ({exc})") from exc
        tokens += _example_tokens(number, example)
        examples += 1
    if examples == 0:
        raise InvalidRequest(
            "Invalid file format for fine-tuning: the file contains no examples.",
            param="file",
            code="invalid_file_format",
        )
    return TrainingFileSummary(examples, tokens)
