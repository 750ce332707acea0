"""Turn planned choices into the exact bytes the real API sends.

Why this module: the fake server is only a useful test double if its bytes match the
real API's, down to key order and the ``null``\\ s it always writes:

- a streamed chunk is ``data: {json}\\n\\n`` with the keys ``id, object, created,
  model, service_tier, system_fingerprint, choices`` (then ``usage: null`` on every
  chunk when ``stream_options.include_usage`` is set), and each choice is ``index,
  delta, logprobs, finish_reason``;
- a choice's first delta carries the role: ``{"role":"assistant","content":"",
  "refusal":null}``, or ``"content":null`` with the first tool call's header when the
  reply is only tool calls;
- each later tool call starts with a header delta (``index, id, type,
  function{name, arguments:""}``), and its arguments follow as ``{"index", "function":
  {"arguments"}}`` fragments;
- a call answering the deprecated ``functions`` parameter is a ``function_call``
  instead: its name in the role chunk (``"function_call":{"name", "arguments":""}``),
  then ``{"function_call":{"arguments"}}`` fragments, ``finish_reason: "function_call"``;
- ``service_tier`` is the tier that served the request (see :class:`Envelope`);
- a choice ends with an empty delta and its ``finish_reason``; choices of ``n > 1``
  are interleaved one chunk at a time; the usage chunk has ``"choices":[]``; the
  stream ends with ``data: [DONE]``;
- non-streamed bodies and error bodies are pretty-printed (2 and 4 spaces) as the
  real API prints them.

Speed: a stream's envelope (``id`` ... ``"choices":[{"index":``) is encoded once per
response and every chunk is that prefix, its index, one ``msgspec`` encoding of its
delta and a constant tail, joined once. Nothing is re-encoded per chunk.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._tokens import fragments, split_tokens, token_logprob

__all__ = [
    "DONE",
    "ChoicePlan",
    "Envelope",
    "PlannedCall",
    "error_body",
    "render_completion",
    "render_stream",
]

_encode = msgspec.json.Encoder().encode

DONE = b"data: [DONE]\n\n"
_NULL = b"null"
_EMPTY_LOGPROBS = b'{"content":[],"refusal":null}'


class PlannedCall:
    """A tool call a choice makes: its id, function name and arguments text."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self, id: str, name: str, arguments: str) -> None:
        self.id = id
        self.name = name
        self.arguments = arguments


class ChoicePlan:
    """Everything one choice says, decided before anything is encoded."""

    __slots__ = ("calls", "content", "finish_reason", "legacy", "reasoning", "refusal")

    def __init__(
        self,
        *,
        content: str | None = None,
        reasoning: str | None = None,
        refusal: str | None = None,
        calls: list[PlannedCall] | None = None,
        finish_reason: str = "stop",
        legacy: bool = False,
    ) -> None:
        self.content = content
        self.reasoning = reasoning
        self.refusal = refusal
        self.calls = calls or []
        self.finish_reason = finish_reason
        # One call sent as ``function_call`` (the deprecated ``functions`` parameter).
        self.legacy = legacy


class Envelope:
    """The fields every chunk (or the completion) of one response repeats.

    ``service_tier`` is the tier that served the request: the API answers ``"default"``
    for ``"auto"`` (or no tier) and echoes a tier asked for by name.
    """

    __slots__ = (
        "created",
        "fingerprint",
        "id",
        "logprobs",
        "model",
        "salt",
        "service_tier",
        "top_logprobs",
    )

    def __init__(
        self,
        *,
        id: str,
        created: int,
        model: str,
        fingerprint: str,
        logprobs: bool = False,
        top_logprobs: int = 0,
        salt: str = "",
        service_tier: str = "default",
    ) -> None:
        self.id = id
        self.created = created
        self.model = model
        self.fingerprint = fingerprint
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.salt = salt
        self.service_tier = service_tier


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """The API's error body, ``{"error": {"message", "type", "param", "code"}}``."""
    raw = _encode({"error": {"message": message, "type": type, "param": param, "code": code}})
    return msgspec.json.format(raw, indent=4) + b"\n"


def _call_header(index: int, call: PlannedCall) -> dict[str, Any]:
    return {
        "index": index,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }


def _choice_deltas(
    plan: ChoicePlan, env: Envelope, salt: str, chunk_size: int | None
) -> list[tuple[bytes, bytes]]:
    """A choice's deltas in order, each as (delta JSON, logprobs JSON); no finish."""
    out: list[tuple[bytes, bytes]] = []
    merged_first_call = False
    if plan.legacy and plan.calls:
        call = plan.calls[0]
        header = {
            "role": "assistant",
            "content": None,
            "function_call": {"name": call.name, "arguments": ""},
            "refusal": None,
        }
        out.append((_encode(header), _NULL))
        out.extend(
            (_encode({"function_call": {"arguments": frag}}), _NULL)
            for frag in fragments(call.arguments, chunk_size)
        )
        return out
    if plan.calls and plan.content is None and plan.reasoning is None and plan.refusal is None:
        role: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call_header(0, plan.calls[0])],
            "refusal": None,
        }
        merged_first_call = True
    elif plan.refusal is not None and plan.content is None:
        role = {"role": "assistant", "content": None, "refusal": ""}
    else:
        role = {"role": "assistant", "content": "", "refusal": None}
    out.append((_encode(role), _EMPTY_LOGPROBS if env.logprobs else _NULL))
    if plan.reasoning:
        out.extend(
            (_encode({"reasoning_content": frag}), _NULL)
            for frag in fragments(plan.reasoning, chunk_size)
        )
    top = env.top_logprobs
    if plan.content:
        for frag in fragments(plan.content, chunk_size):
            logprobs = (
                _encode({"content": [token_logprob(frag, salt, top)], "refusal": None})
                if env.logprobs
                else _NULL
            )
            out.append((_encode({"content": frag}), logprobs))
    if plan.refusal:
        for frag in fragments(plan.refusal, chunk_size):
            logprobs = (
                _encode({"content": None, "refusal": [token_logprob(frag, salt, top)]})
                if env.logprobs
                else _NULL
            )
            out.append((_encode({"refusal": frag}), logprobs))
    for index, call in enumerate(plan.calls):
        if not (index == 0 and merged_first_call):
            out.append((_encode({"tool_calls": [_call_header(index, call)]}), _NULL))
        out.extend(
            (
                _encode({"tool_calls": [{"index": index, "function": {"arguments": frag}}]}),
                _NULL,
            )
            for frag in fragments(call.arguments, chunk_size)
        )
    return out


def render_stream(
    env: Envelope,
    plans: list[ChoicePlan],
    usage: dict[str, Any] | None,
    *,
    include_usage: bool,
    chunk_size: int | None = None,
) -> list[bytes]:
    """Every ``data:`` event of a streamed response, ``[DONE]`` last.

    Args:
        env: The response's id, model, fingerprint and logprobs settings.
        plans: One plan per choice.
        usage: The usage object, sent in a final chunk when ``include_usage``.
        include_usage: Whether ``stream_options.include_usage`` was set.
        chunk_size: Characters per fragment, or ``None`` for token-sized fragments.

    Returns:
        One ``bytes`` per event, each ending in ``\\n\\n``.
    """
    prefix = b"".join(
        (
            b'data: {"id":',
            _encode(env.id),
            b',"object":"chat.completion.chunk","created":',
            str(env.created).encode(),
            b',"model":',
            _encode(env.model),
            b',"service_tier":',
            _encode(env.service_tier),
            b',"system_fingerprint":',
            _encode(env.fingerprint),
            b",",
        )
    )
    head = prefix + b'"choices":[{"index":'
    tail = b'}],"usage":null}\n\n' if include_usage else b"}]}\n\n"
    per_choice: list[list[bytes]] = []
    for i, plan in enumerate(plans):
        index = str(i).encode()
        salt = f"{env.salt}:{i}"
        events = [
            b"".join(
                (
                    head,
                    index,
                    b',"delta":',
                    delta,
                    b',"logprobs":',
                    lp,
                    b',"finish_reason":null',
                    tail,
                )
            )
            for delta, lp in _choice_deltas(plan, env, salt, chunk_size)
        ]
        events.append(
            b"".join(
                (
                    head,
                    index,
                    b',"delta":{},"logprobs":null,"finish_reason":',
                    _encode(plan.finish_reason),
                    tail,
                )
            )
        )
        per_choice.append(events)
    if len(per_choice) == 1:
        out = per_choice[0]
    else:
        longest = max(len(events) for events in per_choice)
        out = [
            events[step] for step in range(longest) for events in per_choice if step < len(events)
        ]
    if include_usage:
        out.append(prefix + b'"choices":[],"usage":' + _encode(usage) + b"}\n\n")
    out.append(DONE)
    return out


def render_completion(env: Envelope, plans: list[ChoicePlan], usage: dict[str, Any]) -> bytes:
    """The body of a non-streamed ``chat.completion``.

    Args:
        env: The response's id, model, fingerprint and logprobs settings.
        plans: One plan per choice.
        usage: The usage object.
    """
    choices = []
    for i, plan in enumerate(plans):
        message: dict[str, Any] = {"role": "assistant", "content": plan.content}
        if plan.reasoning is not None:
            message["reasoning_content"] = plan.reasoning
        if plan.calls and plan.legacy:
            call = plan.calls[0]
            message["function_call"] = {"name": call.name, "arguments": call.arguments}
        elif plan.calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in plan.calls
            ]
        message["refusal"] = plan.refusal
        message["annotations"] = []
        logprobs: dict[str, Any] | None = None
        if env.logprobs:
            salt = f"{env.salt}:{i}"
            top = env.top_logprobs
            logprobs = {
                "content": None
                if plan.content is None
                else [token_logprob(t, salt, top) for t in split_tokens(plan.content)],
                "refusal": None
                if plan.refusal is None
                else [token_logprob(t, salt, top) for t in split_tokens(plan.refusal)],
            }
        choices.append(
            {
                "index": i,
                "message": message,
                "logprobs": logprobs,
                "finish_reason": plan.finish_reason,
            }
        )
    body = {
        "id": env.id,
        "object": "chat.completion",
        "created": env.created,
        "model": env.model,
        "choices": choices,
        "usage": usage,
        "service_tier": env.service_tier,
        "system_fingerprint": env.fingerprint,
    }
    return msgspec.json.format(_encode(body), indent=2)
