"""What the fake model says when no reply is scripted: deterministic, and sensible.

Why deterministic: a test (or a documentation example) must be able to run twice and
see the same answer. Why sensible: the same fake server backs the examples and the
tool-loop tests, so its answers have to move a conversation forward:

- with tools offered and ``tool_choice`` allowing it (``"auto"`` when the last message
  is the user's, ``"required"``, or a named function), it calls the tool whose name and
  description share most words with the user's last message, with arguments made up
  from the tool's JSON schema (see :mod:`._schema`); with ``parallel_tool_calls`` left
  on and two or more tools whose *names* share a word with the message, it calls the
  two best ones at once; the deprecated ``functions``/``function_call`` are answered
  the same way, with one ``function_call`` (``finish_reason: "function_call"``);
- after ``tool`` messages, it answers in text quoting each tool's result;
- otherwise it says ``You said "<the user's last message>".`` and one phrase chosen by
  a hash of the conversation (and of ``seed`` and the choice index, so that ``n``
  choices differ and a different seed gives a different phrase);
- ``response_format`` ``json_object`` gives ``{"reply": "..."}``; ``json_schema`` gives
  a value made up from the schema;
- ``max_tokens``/``max_completion_tokens`` cut the text (``finish_reason: "length"``),
  and ``stop`` sequences cut it before the first match.

Token counts (see :mod:`._tokens`): ``prompt_tokens`` is 3, plus for each message 3
and the tokens of its text (and of its tool calls), plus the tokens of the ``tools``
JSON; ``completion_tokens`` counts the content, refusal, reasoning, function names and
arguments of every choice.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import msgspec

from ._schema import STOPWORDS, example_value
from ._tokens import count_tokens, split_tokens
from ._validate import ChatRequest
from ._wire import ChoicePlan, PlannedCall

__all__ = ["IdMaker", "default_plans", "message_text", "prompt_tokens", "usage_for"]

_encode = msgspec.json.Encoder(order="sorted").encode

_PHRASES = (
    "Happy to help.",
    "Here is what I think.",
    "Let me know if you need more.",
    "That is an interesting point.",
    "I hope this helps.",
    "Good question.",
    "Thanks for asking.",
    "Noted.",
)

_QUOTE_TOKENS = 40
_WORD_RE = re.compile(r"[a-z0-9]+")
_CAMEL_RE = re.compile(r"([a-z0-9])([A-Z])")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class IdMaker:
    """Makes response and tool call ids: random, or derived from ``seed`` when given.

    Why derive them: the same request with the same seed must give the same bytes, ids
    included, so that a test can compare two responses whole.
    """

    __slots__ = ("_counter", "_material")

    def __init__(self, material: bytes | None) -> None:
        self._material = material
        self._counter = 0

    @property
    def seeded(self) -> bool:
        """Whether ids are derived (reproducible) rather than random."""
        return self._material is not None

    def number(self, modulo: int) -> int:
        """A number in ``range(modulo)``: derived when seeded, random otherwise."""
        if self._material is None:
            return secrets.randbelow(modulo)
        self._counter += 1
        digest = hashlib.blake2b(
            self._material + self._counter.to_bytes(4, "big"), digest_size=16
        ).digest()
        return int.from_bytes(digest, "big") % modulo

    def make(self, prefix: str, length: int) -> str:
        """``prefix`` and ``length`` base-62 characters (``chatcmpl-...``, ``call_...``)."""
        value = self.number(62**length)
        chars = []
        for _ in range(length):
            value, digit = divmod(value, 62)
            chars.append(_ALPHABET[digit])
        return prefix + "".join(chars)


def message_text(message: dict[str, Any]) -> str:
    """The text of a request message's ``content`` (parts joined; images as ``[image]``)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                elif part.get("type") == "image_url":
                    pieces.append("[image]")
                elif part.get("type") == "input_audio":
                    pieces.append("[audio]")
        return " ".join(pieces)
    return ""


def prompt_tokens(request: ChatRequest) -> int:
    """The fake ``prompt_tokens`` of a request (see the module docstring)."""
    total = 3
    for message in request.messages:
        total += 3 + count_tokens(message_text(message))
        calls = message.get("tool_calls")
        if calls:
            total += count_tokens(_encode(calls).decode())
    if request.tools:
        total += count_tokens(_encode(request.tools).decode())
    return total


def usage_for(prompt: int, plans: list[ChoicePlan]) -> dict[str, Any]:
    """The ``usage`` object of a response, with the real API's detail objects."""
    completion = 0
    reasoning = 0
    for plan in plans:
        for text in (plan.content, plan.refusal):
            if text:
                completion += count_tokens(text)
        if plan.reasoning:
            reasoning += count_tokens(plan.reasoning)
        for call in plan.calls:
            completion += count_tokens(call.name) + count_tokens(call.arguments)
    completion += reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def conversation_hash(request: ChatRequest) -> int:
    """A stable number for the conversation, ``seed`` and model."""
    material = _encode([request.messages, request.tools, request.seed, request.model])
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")


def _words(text: str) -> set[str]:
    text = _CAMEL_RE.sub(r"\1 \2", text).lower()
    return {w for w in _WORD_RE.findall(text) if w not in STOPWORDS}


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _choose_tools(request: ChatRequest, user_text: str) -> list[dict[str, Any]]:
    """The tool(s) to call, or ``[]`` to answer in text."""
    tools = request.tools
    choice = request.tool_choice
    if not tools or choice == "none":
        return []
    if choice.startswith("function:"):
        name = choice[len("function:") :]
        return [t for t in tools if t["name"] == name][:1]
    last_role = request.messages[-1].get("role")
    if choice == "auto" and last_role != "user":
        return []
    wanted = _words(user_text)
    scored = []
    for index, tool in enumerate(tools):
        name_hits = len(_words(tool["name"]) & wanted)
        description = tool.get("description")
        text_hits = len(_words(description) & wanted) if isinstance(description, str) else 0
        scored.append((-(2 * name_hits + text_hits), index, name_hits))
    scored.sort()
    if request.parallel_tool_calls:
        named = [entry for entry in scored if entry[2] > 0]
        if len(named) >= 2:
            return [tools[index] for index in sorted(entry[1] for entry in named[:2])]
    return [tools[scored[0][1]]]


def _tool_answer(messages: list[dict[str, Any]]) -> str | None:
    """Text quoting the results of the trailing ``tool`` messages, if any."""
    results: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(message)
    if not results:
        return None
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            names[call.get("id", "")] = function.get("name", "the")
    sentences = [
        f"The {names.get(m['tool_call_id'], 'the')} tool returned: {message_text(m)}"
        for m in reversed(results)
    ]
    return " ".join(sentences)


def _say(user_text: str, number: int) -> str:
    quote = "".join(split_tokens(" ".join(user_text.split()))[:_QUOTE_TOKENS]).strip()
    phrase = _PHRASES[number % len(_PHRASES)]
    return f'You said "{quote}". {phrase}' if quote else f"Hello! {phrase}"


def _limit(text: str, request: ChatRequest) -> tuple[str, str]:
    finish = "stop"
    cut = len(text)
    for stop in request.stop:
        found = text.find(stop) if stop else -1
        if 0 <= found < cut:
            cut = found
    text = text[:cut]
    if request.max_tokens is not None:
        tokens = split_tokens(text)
        if len(tokens) > request.max_tokens:
            text = "".join(tokens[: request.max_tokens])
            finish = "length"
    return text, finish


def default_plans(request: ChatRequest, ids: IdMaker) -> list[ChoicePlan]:
    """One plan per choice for an unscripted request.

    Args:
        request: The validated request.
        ids: Where tool call ids come from (seeded or random).
    """
    user_text = _last_user_text(request.messages)
    base = conversation_hash(request)
    tools = _choose_tools(request, user_text)
    tool_result = _tool_answer(request.messages)
    plans = []
    for index in range(request.n):
        if tools:
            calls = [
                PlannedCall(
                    ids.make("call_", 24),
                    tool["name"],
                    _encode_arguments(tool.get("parameters"), user_text),
                )
                for tool in tools
            ]
            if request.legacy_functions:
                plans.append(ChoicePlan(calls=calls, finish_reason="function_call", legacy=True))
            else:
                plans.append(ChoicePlan(calls=calls, finish_reason="tool_calls"))
            continue
        text = tool_result if tool_result is not None else _say(user_text, base + index)
        fmt = request.response_format
        if fmt is not None and fmt.get("type") == "json_object":
            text = msgspec.json.encode({"reply": text}).decode()
        elif fmt is not None and fmt.get("type") == "json_schema":
            schema = fmt["json_schema"].get("schema") or {}
            text = msgspec.json.encode(example_value(schema, message=user_text)).decode()
        text, finish = _limit(text, request)
        plans.append(ChoicePlan(content=text, finish_reason=finish))
    return plans


def _encode_arguments(parameters: Any, user_text: str) -> str:
    schema = parameters if isinstance(parameters, dict) else {"type": "object"}
    return msgspec.json.encode(example_value(schema, message=user_text)).decode()
