"""Validation of ``POST /v1/chat/completions`` bodies, with OpenAI's error messages.

Hand-written rather than a pydantic model: it runs on every simulated request, the error
messages and ``param`` paths must read like OpenAI's, and unknown fields are accepted (new
client fields must not break the simulator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from modality.simulator.errors import InvalidRequest, invalid_type

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "refusal", "file")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765  # a 1024x1024 image at detail "high"/"auto" on gpt-4o

ToolChoice = Literal["none", "auto", "required"] | str  # a str other than those: forced name


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    texts: list[str]  # every text the prompt carries, in order (for counting and seeding)
    message_count: int = 0
    named_messages: int = 0
    image_tokens: int = 0
    last_user_text: str = ""
    last_role: str = "user"
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    response_format: str = "text"  # text | json_object | json_schema
    json_schema: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # the "function" objects
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    logprobs: bool = False
    top_logprobs: int = 0


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def invalid_value(param: str, value: object, allowed: tuple[str, ...]) -> InvalidRequest:
    quoted = [f"'{a}'" for a in allowed]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    return InvalidRequest(
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(name, "a decimal", value)
    if value < low:
        raise InvalidRequest(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=name,
            code="decimal_below_min_value",
        )
    if value > high:
        raise InvalidRequest(
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=name,
            code="decimal_above_max_value",
        )
    return float(value)


def _integer(body: dict[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(name, "an integer", value)
    if value < low:
        raise InvalidRequest(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise InvalidRequest(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=name,
            code="integer_above_max_value",
        )
    return value


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_type(name, "a boolean", value)
    return value


def _content(req: ChatRequest, content: object, param: str, required: bool) -> str:
    """Collect the text of one message's content; return it (for last-user tracking)."""
    if isinstance(content, str):
        req.texts.append(content)
        return content
    if content is None:
        if required:
            raise missing(param)
        return ""
    if not isinstance(content, list):
        raise invalid_type(param, "one of a string or array of objects", content)
    collected = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise invalid_type(where, "an object", part)
        kind = part.get("type")
        if kind is None:
            raise missing(f"{where}.type")
        if kind not in PART_TYPES:
            raise invalid_value(f"{where}.type", kind, PART_TYPES)
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise (
                    missing(f"{where}.{kind}")
                    if text is None
                    else invalid_type(f"{where}.{kind}", "a string", text)
                )
            req.texts.append(text)
            collected.append(text)
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise missing(f"{where}.image_url.url")
            low = image.get("detail") == "low"
            req.image_tokens += IMAGE_TOKENS_LOW if low else IMAGE_TOKENS_HIGH
    return " ".join(collected)


def _tool_calls(req: ChatRequest, calls: object, param: str, seen: set[str]) -> None:
    if not isinstance(calls, list):
        raise invalid_type(param, "an array", calls)
    for k, call in enumerate(calls):
        where = f"{param}[{k}]"
        if not isinstance(call, dict):
            raise invalid_type(where, "an object", call)
        call_id = call.get("id")
        if not isinstance(call_id, str):
            raise missing(f"{where}.id")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise missing(f"{where}.function.name")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            raise missing(f"{where}.function.arguments")
        req.texts.append(function["name"])
        req.texts.append(arguments)
        seen.add(call_id)


def _messages(req: ChatRequest, messages: object) -> None:
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise invalid_type("messages", "an array", messages)
    if not messages:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    seen_calls: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            raise missing(f"{where}.role")
        if role not in ROLES:
            raise invalid_value(f"{where}.role", role, ROLES)
        name = message.get("name")
        if name is not None:
            if not isinstance(name, str):
                raise invalid_type(f"{where}.name", "a string", name)
            req.named_messages += 1
            req.texts.append(name)
        content = message.get("content")
        if role == "assistant":
            calls = message.get("tool_calls")
            if calls is not None:
                _tool_calls(req, calls, f"{where}.tool_calls", seen_calls)
            _content(req, content, f"{where}.content", required=calls is None)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise missing(f"{where}.tool_call_id")
            if call_id not in seen_calls:
                raise InvalidRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"{where}.role",
                )
            _content(req, content, f"{where}.content", required=True)
        else:
            text = _content(req, content, f"{where}.content", required=True)
            if role == "user":
                req.last_user_text = text
    req.messages = messages
    req.last_role = messages[-1]["role"]
    req.message_count = len(messages)


def _response_format(req: ChatRequest, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid_type("response_format", "an object", value)
    kind = value.get("type")
    if kind is None:
        raise missing("response_format.type")
    if kind not in ("text", "json_object", "json_schema"):
        raise invalid_value("response_format.type", kind, ("text", "json_object", "json_schema"))
    req.response_format = kind
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise missing("response_format.json_schema")
        if not isinstance(spec.get("name"), str):
            raise missing("response_format.json_schema.name")
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise invalid_type("response_format.json_schema.schema", "an object", schema)
        req.json_schema = schema or {"type": "object"}
    elif kind == "json_object" and not any("json" in t.lower() for t in req.texts):
        raise InvalidRequest(
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
            param="messages",
        )


def _tools(req: ChatRequest, tools: object, choice: object) -> None:
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid_type("tools", "an array", tools)
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise invalid_type(where, "an object", tool)
            if tool.get("type", "function") != "function":
                raise invalid_value(f"{where}.type", tool.get("type"), ("function",))
            function = tool.get("function")
            if not isinstance(function, dict):
                raise missing(f"{where}.function")
            name = function.get("name")
            if not isinstance(name, str):
                raise missing(f"{where}.function.name")
            if not _TOOL_NAME.match(name):
                raise InvalidRequest(
                    f"Invalid '{where}.function.name': string does not match pattern. "
                    f"Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    param=f"{where}.function.name",
                    code="invalid_value",
                )
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise invalid_type(f"{where}.function.parameters", "an object", parameters)
            req.tools.append(function)
    if choice is None:
        req.tool_choice = "auto" if req.tools else "none"
        return
    if not req.tools:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            param="tool_choice",
        )
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise invalid_value("tool_choice", choice, ("none", "auto", "required"))
        req.tool_choice = choice
        return
    if not isinstance(choice, dict):
        raise invalid_type("tool_choice", "one of a string or object", choice)
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise missing("tool_choice.function.name")
    if all(tool["name"] != name for tool in req.tools):
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': function '{name}' not found in 'tools'.",
            param="tool_choice",
            code="invalid_value",
        )
    req.tool_choice = name


def _stop(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise invalid_type("stop", "one of a string or array of strings", value)
    if len(value) > 4:
        raise InvalidRequest(
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, "
            f"but got an array with length {len(value)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    return [s for s in value if s]


def parse_chat_request(body: object) -> ChatRequest:
    """Validate a decoded JSON body; raise :class:`InvalidRequest` the way OpenAI would."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            "Invalid request body: expected a JSON object.", param=None, code="invalid_type"
        )
    model = body.get("model")
    if model is None or model == "":
        raise InvalidRequest("you must provide a model parameter")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    req = ChatRequest(model=model, messages=[], texts=[])
    _messages(req, body.get("messages"))
    req.stream = _bool(body, "stream")
    options = body.get("stream_options")
    if options is not None:
        if not req.stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
        if not isinstance(options, dict):
            raise invalid_type("stream_options", "an object", options)
        req.include_usage = _bool(options, "include_usage")
    req.n = _integer(body, "n", 1, 128) or 1
    limit = _integer(body, "max_completion_tokens", 1)
    req.max_tokens = limit if limit is not None else _integer(body, "max_tokens", 1)
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    req.stop = _stop(body.get("stop"))
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise invalid_type("seed", "an integer", seed)
    req.seed = seed
    req.logprobs = _bool(body, "logprobs")
    top = _integer(body, "top_logprobs", 0, 20)
    if top is not None:
        if not req.logprobs:
            raise InvalidRequest(
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
                "'top_logprobs' is specified.",
                param="top_logprobs",
                code="invalid_value",
            )
        req.top_logprobs = top
    _tools(req, body.get("tools"), body.get("tool_choice"))
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        req.parallel_tool_calls = _bool(body, "parallel_tool_calls")
    _response_format(req, body.get("response_format"))
    return req
