"""Deterministic completion content and usage for a validated :class:`ChatRequest`.

Content depends only on the prompt, the model, the request ``seed``, the simulator seed
and the choice index, so the same request always gets the same answer.
"""

from __future__ import annotations

import os
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from modality.simulator.jsongen import value_for
from modality.simulator.protocol import ChatRequest
from modality.simulator.text import WORDS, sentence_pieces
from modality.simulator.tokens import REPLY_PRIMING, count_tokens, message_overhead, split_pieces

FINGERPRINT = "modality-simulator"
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    pieces: list[str]


@dataclass(slots=True)
class Choice:
    index: int
    content: str | None
    pieces: list[str]  # streaming pieces of the content
    tool_calls: list[ToolCall]
    finish_reason: str
    completion_tokens: int
    logprobs: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class Completion:
    id: str
    created: int
    model: str
    prompt_tokens: int
    choices: list[Choice] = field(default_factory=list)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.choices)

    @property
    def longest_choice(self) -> int:
        return max((c.completion_tokens for c in self.choices), default=0)


def prompt_tokens(req: ChatRequest) -> int:
    total = REPLY_PRIMING + req.image_tokens
    total += req.message_count * message_overhead(False) + req.named_messages
    for text in req.texts:
        total += count_tokens(text)
    if req.tools:
        total += count_tokens(orjson.dumps(req.tools).decode())
    if req.json_schema is not None:
        total += count_tokens(orjson.dumps(req.json_schema).decode())
    return total


def request_seed(req: ChatRequest, simulator_seed: int) -> int:
    digest = zlib.crc32(req.model.encode())
    for text in req.texts:
        digest = zlib.crc32(text.encode(), digest)
    return digest ^ (simulator_seed * 0x9E3779B1) ^ ((req.seed or 0) * 0x85EBCA6B)


def generate(req: ChatRequest, *, length: int, simulator_seed: int, prompt: int) -> Completion:
    """Build all choices; ``length`` is the natural completion length in tokens."""
    completion = Completion(
        id="chatcmpl-" + os.urandom(12).hex(),
        created=int(time.time()),
        model=req.model,
        prompt_tokens=prompt,
    )
    base = request_seed(req, simulator_seed)
    for index in range(req.n):
        seed = (base + index * 1_000_003) & 0xFFFFFFFFFFFF
        completion.choices.append(_choice(req, index, seed, length))
    return completion


def _choice(req: ChatRequest, index: int, seed: int, length: int) -> Choice:
    tools = _tools_to_call(req)
    if tools:
        return _tool_choice(req, index, random.Random(seed), tools)
    if req.response_format == "text":
        pieces = sentence_pieces(seed, length)
        exact = True
    else:
        schema = req.json_schema
        if schema is None:  # json_object: any valid JSON object
            value: Any = {"answer": "".join(sentence_pieces(seed, max(1, length - 5)))}
        else:
            value = value_for(schema, random.Random(seed))
        pieces = split_pieces(orjson.dumps(value).decode())
        exact = False
    pieces, finish, tokens = _truncate(req, pieces, exact)
    choice = Choice(index, "".join(pieces), pieces, [], finish, tokens)
    if req.logprobs:
        rng = random.Random(seed)
        choice.logprobs = [_logprob(piece, rng, req.top_logprobs) for piece in pieces]
    return choice


def _tools_to_call(req: ChatRequest) -> list[dict[str, Any]]:
    if not req.tools or req.tool_choice == "none":
        return []
    if req.tool_choice not in ("auto", "required"):
        return [t for t in req.tools if t["name"] == req.tool_choice][:1]
    if req.tool_choice == "auto" and req.last_role == "tool":
        return []  # the tool answered: now reply in words, as a model would
    text = req.last_user_text.lower()
    mentioned = [
        t
        for t in req.tools
        if t["name"].lower() in text or t["name"].lower().replace("_", " ") in text
    ]
    if req.tool_choice == "required" and not mentioned:
        mentioned = req.tools[:1]
    return mentioned if req.parallel_tool_calls else mentioned[:1]


def _tool_choice(
    req: ChatRequest, index: int, rng: random.Random, tools: list[dict[str, Any]]
) -> Choice:
    calls = []
    tokens = 0
    for tool in tools:
        arguments = orjson.dumps(value_for(tool.get("parameters") or _EMPTY_PARAMETERS, rng))
        text = arguments.decode()
        call_id = "call_" + format(rng.getrandbits(96), "024x")
        calls.append(ToolCall(call_id, tool["name"], text, split_pieces(text)))
        tokens += count_tokens(tool["name"]) + count_tokens(text) + 3
    finish = "tool_calls" if req.tool_choice in ("auto", "required") else "stop"
    if req.max_tokens is not None and tokens > req.max_tokens:
        first = calls[0]
        first.pieces = first.pieces[: max(1, req.max_tokens - 4)]
        first.arguments = "".join(first.pieces)
        calls, tokens, finish = [first], req.max_tokens, "length"
    return Choice(index, None, [], calls, finish, tokens)


def _truncate(req: ChatRequest, pieces: list[str], exact: bool) -> tuple[list[str], str, int]:
    """Apply stop sequences, then max_tokens; return kept pieces, finish reason, tokens."""
    finish = "stop"
    if req.stop:
        text = "".join(pieces)
        cut = min((i for i in (text.find(s) for s in req.stop) if i >= 0), default=-1)
        if cut >= 0:
            kept: list[str] = []
            used = 0
            for piece in pieces:
                if used + len(piece) > cut:
                    if cut > used:
                        kept.append(piece[: cut - used])
                    break
                kept.append(piece)
                used += len(piece)
            pieces = kept
    tokens = len(pieces) if exact else count_tokens("".join(pieces))
    limit = req.max_tokens
    if limit is not None and tokens > limit:
        pieces = pieces[:limit]
        tokens, finish = limit, "length"
    return pieces, finish, tokens


def _logprob(piece: str, rng: random.Random, top: int) -> dict[str, Any]:
    chosen = -round(rng.random() ** 3 * 2.5, 6)
    entry: dict[str, Any] = {"token": piece, "logprob": chosen, "bytes": list(piece.encode())}
    alternatives = [{"token": piece, "logprob": chosen, "bytes": entry["bytes"]}]
    lower = chosen
    for _ in range(top - 1):
        word = " " + rng.choice(WORDS)
        lower = round(lower - 0.5 - rng.random() * 2, 6)
        alternatives.append({"token": word, "logprob": lower, "bytes": list(word.encode())})
    entry["top_logprobs"] = alternatives[:top]
    return entry


def usage(completion: Completion) -> dict[str, Any]:
    done = completion.completion_tokens
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": done,
        "total_tokens": completion.prompt_tokens + done,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_body(completion: Completion) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object."""
    choices = []
    for c in completion.choices:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": c.content,
            "refusal": None,
            "annotations": [],
        }
        if c.tool_calls:
            message["tool_calls"] = [
                {
                    "id": t.id,
                    "type": "function",
                    "function": {"name": t.name, "arguments": t.arguments},
                }
                for t in c.tool_calls
            ]
        choices.append(
            {
                "index": c.index,
                "message": message,
                "logprobs": None
                if c.logprobs is None
                else {"content": c.logprobs, "refusal": None},
                "finish_reason": c.finish_reason,
            }
        )
    return {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": choices,
        "usage": usage(completion),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
