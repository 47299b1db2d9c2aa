"""Wire shapes of the data plane.

``parse_chat_request`` checks only the fields the gateway itself relies on (model,
messages, stream, stream_options, n, tools, user) and leaves every other field, known or
not, for the upstream to judge: clients send new fields before we learn about them. It is
hand-written rather than a pydantic model because it runs on every request.

``GenerationRequest``/``GenerationResponse`` are the Flywheel-compatible ``/generate``
shim's shapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modality.common.errors import InvalidRequestError

AUTO_MODEL = "auto"


@dataclass(slots=True)
class ChatRequest:
    """A validated chat-completions body; ``body`` is forwarded with ``model`` replaced."""

    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    has_tools: bool
    user: str | None


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """What the router is told about a request (see ``modality.common.routing``)."""

    last_user_text: str
    system_digest: str | None
    token_estimate: int
    has_vision: bool


def _type_error(param: str, expected: str, value: object) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {type(value).__name__} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def parse_chat_request(body: object) -> ChatRequest:
    if not isinstance(body, dict):
        raise InvalidRequestError(
            "The request body must be a JSON object.", code="invalid_request_body"
        )
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str):
        raise _type_error("model", "a string", model)
    if not model:
        raise InvalidRequestError("'model' must not be empty.", param="model", code="invalid_value")

    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _type_error("messages", "an array", messages)
    if not messages:
        raise InvalidRequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _type_error(f"messages[{i}]", "an object", message)
        role = message.get("role")
        if not isinstance(role, str):
            raise (
                _missing(f"messages[{i}].role")
                if role is None
                else _type_error(f"messages[{i}].role", "a string", role)
            )

    stream = body.get("stream")
    if stream is None:
        stream = False
    elif not isinstance(stream, bool):
        raise _type_error("stream", "a boolean", stream)

    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _type_error("stream_options", "an object", options)
        if not stream:
            raise InvalidRequestError(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
        flag = options.get("include_usage")
        if flag is not None and not isinstance(flag, bool):
            raise _type_error("stream_options.include_usage", "a boolean", flag)
        include_usage = bool(flag)

    n = body.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise _type_error("n", "an integer", n)
        if n < 1:
            raise InvalidRequestError(
                "Invalid 'n': integer below minimum value. "
                f"Expected a value >= 1, but got {n} instead.",
                param="n",
                code="integer_below_min_value",
            )

    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _type_error("tools", "an array", tools)
    functions = body.get("functions")
    if functions is not None and not isinstance(functions, list):
        raise _type_error("functions", "an array", functions)

    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _type_error("user", "a string", user)

    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=include_usage,
        has_tools=bool(tools) or bool(functions),
        user=user,
    )


def _text_of(content: object) -> tuple[str, bool]:
    """(text, has_image) of one message's content (a string or an array of parts)."""
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return "", False
    texts: list[str] = []
    vision = False
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image"):
            vision = True
    return " ".join(texts), vision


def prompt_features(messages: list[dict[str, Any]], max_chars: int) -> PromptFeatures:
    """Router features: last user turn (truncated), system prompt digest, ~4 chars/token."""
    last_user = ""
    system_parts: list[str] = []
    chars = 0
    vision = False
    for message in messages:
        text, has_image = _text_of(message.get("content"))
        chars += len(text)
        vision = vision or has_image
        role = message.get("role")
        if role == "user":
            last_user = text
        elif role in ("system", "developer"):
            system_parts.append(text)
    digest = (
        hashlib.sha256("\n".join(system_parts).encode()).hexdigest()[:16] if system_parts else None
    )
    return PromptFeatures(
        last_user_text=last_user[:max_chars],
        system_digest=digest,
        token_estimate=(chars + 3) // 4,
        has_vision=vision,
    )


# --- /generate (Flywheel compatibility) ---------------------------------------------------


class GenerationRequest(BaseModel):
    """Flywheel's generation request, served through the same routing/upstream/usage path.

    Mapped onto one chat completion whose only message is ``{"role": "user", "content":
    text}``. ``num_samples`` becomes ``n``. ``eos_token_ids`` and ``top_k`` have no
    OpenAI equivalent: they are accepted and ignored (upstreams behind the gateway speak
    the OpenAI protocol, which cannot express them). Unknown fields are ignored too.
    """

    model_config = ConfigDict(extra="ignore")

    text: str
    model: str = AUTO_MODEL
    max_tokens: int | None = Field(None, ge=1)
    eos_token_ids: list[int] | None = None
    num_samples: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    temperature: float | None = Field(None, ge=0)
    top_k: int | None = None
    top_p: float | None = Field(None, ge=0, le=1)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    def to_chat_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.text}],
            "n": self.num_samples,
        }
        for name in (
            "max_tokens",
            "stop",
            "temperature",
            "top_p",
            "presence_penalty",
            "frequency_penalty",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


class GenerationSample(BaseModel):
    text: str
    finish_reason: str | None = None


class GenerationResponse(BaseModel):
    """One sample per chat choice, in choice order, plus the upstream's usage unchanged.

    ``model`` is the public name of the model that answered; ``request_id`` is the
    gateway's request id (also in the ``x-modality-request-id`` header).
    """

    samples: list[GenerationSample]
    model: str
    request_id: str
    usage: dict[str, Any] | None = None

    @classmethod
    def from_chat_completion(
        cls, completion: dict[str, Any], model: str, request_id: str
    ) -> GenerationResponse:
        choices = completion.get("choices") or []
        ordered = sorted(
            (c for c in choices if isinstance(c, dict)), key=lambda c: c.get("index", 0)
        )
        samples = [
            GenerationSample(
                text=(c.get("message") or {}).get("content") or "",
                finish_reason=c.get("finish_reason"),
            )
            for c in ordered
        ]
        usage = completion.get("usage")
        return cls(
            samples=samples,
            model=model,
            request_id=request_id,
            usage=usage if isinstance(usage, dict) else None,
        )
