"""Tools: Python functions the model can call, and answering the calls it makes.

Why this module exists: a tool is three things that must agree - the definition sent to
the model (name, description, JSON schema), the type the model's arguments are validated
against, and the Python function that runs. :func:`tool` derives all three from one
function, so they cannot drift apart::

    import kkiai_async as kk

    @kk.tool
    async def get_weather(city: str, days: int = 1) -> dict[str, float]:
        \"\"\"Get the forecast for a city.

        Args:
            city: The city name, e.g. "Paris".
            days: How many days ahead, 1 to 16.
        \"\"\"
        ...

    completion = await client.chat.completions.create(
        model=..., messages=messages, tools=[get_weather.definition]
    )
    for call in completion.choices[0].message.tool_calls or ():
        messages.append(await kk.tools.call_tool([get_weather], call, timeout=30))

Decisions, and why:

- **One property per parameter.** ``@tool`` always maps each parameter of the function
  to one property of the arguments object; a function taking a single ``Struct``
  parameter ``args`` gets ``{"args": {...}}``. To make a ``Struct`` *the* arguments object,
  say so with :meth:`FunctionTool.from_struct`. Guessing would change the schema's shape
  the day a second parameter is added.
- **Validation, not coercion.** Arguments are decoded with ``msgspec`` into a struct built
  from the signature: types are checked strictly (``"3"`` is not an ``int``), unknown keys
  are rejected (the schema says ``additionalProperties: false``), and a missing required
  parameter is an error. Nested ``Struct``\\s follow their own ``forbid_unknown_fields``.
- **Errors go back to the model.** :func:`call_tool` never raises for what the model or
  the tool did wrong (unknown tool, invalid JSON, invalid arguments, an exception in the
  tool, a timeout, an unencodable result): it answers with a ``tool`` message whose
  content starts with ``"Error: "`` and says what happened, so the model can correct
  itself. ``asyncio.CancelledError`` (and other ``BaseException``\\s) still propagate.
- **Sync tools run inline by default.** Most tools are quick (a lookup, a calculation);
  moving each to a thread would cost a thread hop per call and surprise code that is not
  thread-safe. A sync tool that blocks (file or network I/O, heavy CPU) should say
  ``@tool(thread=True)`` to run in ``asyncio.to_thread`` and keep the event loop free.
  A timeout can only interrupt what awaits: an async tool, or a ``thread=True`` tool
  (whose thread then finishes in the background - Python cannot stop a thread).
- **Strict mode is opt-in** (``@tool(strict=True)``): the schema then follows OpenAI's
  Structured Outputs rules (see ``kkiai_async._schema`` for the exact list) and a
  signature that cannot be strict fails when it is decorated, not at request time.
- **Plain dicts stay first-class.** A :class:`Toolbox` (and :func:`call_tool`) takes
  dict tool definitions and ``kk.types.Tool`` structs next to :class:`FunctionTool`\\s;
  they are sent as they are, and a call to one is answered with an error message since
  there is no Python function behind it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Generic, NamedTuple, ParamSpec, Protocol, TypeVar, cast, overload

import msgspec

from ._exceptions import InvalidParameterError, ToolArgumentsError, ToolDefinitionError
from ._schema import (
    ArgumentsPlan,
    arguments_struct,
    check_tool_name,
    parameters_schema,
    parse_docstring,
)
from .types import (
    ChatCompletionMessageToolCall,
    FunctionDefinition,
    NamedFunction,
    NamedToolChoice,
    Tool,
    ToolCallDoneEvent,
    ToolMessage,
)

__all__ = [
    "AUTO",
    "NONE",
    "REQUIRED",
    "FunctionTool",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolLike",
    "ToolOutcome",
    "Toolbox",
    "call_tool",
    "force",
    "tool",
]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=msgspec.Struct)

_logger = logging.getLogger("kkiai_async.tools")
_encoder: Final = msgspec.json.Encoder()

Arguments = str | bytes | bytearray | memoryview | Mapping[str, Any] | msgspec.Struct
"""What a tool's arguments may be given as: the model's JSON text, an already parsed
object (some relays send one), or an instance of :attr:`FunctionTool.arguments_type`."""


def _docstring_of(fn: Callable[..., Any]) -> str | None:
    target = fn.func if isinstance(fn, functools.partial) else fn
    return inspect.getdoc(target)


class FunctionTool(Generic[P, R]):
    """A Python function the model can call.

    Made by :func:`tool` (or :meth:`from_struct`). Calling the object calls the original
    function unchanged, so decorating never breaks direct calls.

    Attributes:
        name: The function name the model sees.
        description: What the tool does, for the model; ``None`` sends none.
        parameters: The JSON schema of the arguments object.
        strict: Whether the definition asks for strict schema adherence.
        arguments_type: The ``msgspec.Struct`` type the arguments decode into (give
            ``{tool.name: tool.arguments_type}`` to the accumulator for typed values).
        thread: Whether a sync function runs in a worker thread.
    """

    # No __slots__: functools.update_wrapper() needs an instance __dict__ (for __name__,
    # __doc__, __wrapped__), and a tool is made once, not per call.
    name: str
    description: str | None
    parameters: dict[str, Any]
    strict: bool
    arguments_type: type[msgspec.Struct]
    thread: bool
    _fn: Callable[..., Any]
    _plan: ArgumentsPlan | None
    _decoder: msgspec.json.Decoder[Any]
    _definition: Tool

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        thread: bool = False,
    ) -> None:
        """Make a tool of ``fn`` (what :func:`tool` does).

        Args:
            fn: A sync or async function (or any callable with a signature) whose
                parameters all have type annotations.
            name: The tool name; defaults to the function's ``__name__``.
            description: Defaults to the first paragraph of the docstring.
            strict: Ask for strict schema adherence (see the module docstring).
            thread: Run a sync ``fn`` in ``asyncio.to_thread`` (for blocking tools).

        Raises:
            ToolDefinitionError: The function cannot be described as a tool.
        """
        tool_name = check_tool_name(name if name is not None else getattr(fn, "__name__", None))
        doc = parse_docstring(_docstring_of(fn))
        struct, plan = arguments_struct(fn, name=tool_name, strict=strict)
        schema = parameters_schema(
            struct,
            tool=tool_name,
            strict=strict,
            descriptions={**doc.params, **plan.descriptions},
            defaults=plan.defaults,
        )
        summary = description if description is not None else doc.summary
        self._setup(fn, tool_name, summary, schema, strict, thread, struct, plan)

    @classmethod
    def from_struct(
        cls,
        struct: type[S],
        *,
        fn: Callable[[S], R],
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        thread: bool = False,
    ) -> FunctionTool[[S], R]:
        """Make a tool whose whole arguments object is ``struct``.

        ``fn`` is called with one argument, the decoded ``struct`` instance. Field
        descriptions come from ``msgspec.Meta(description=...)`` or the ``Attributes:``
        section of the struct's docstring. Unknown keys are rejected only if ``struct``
        has ``forbid_unknown_fields=True`` (its own decoding rules apply).

        Args:
            struct: A ``msgspec.Struct`` type (not ``array_like``).
            fn: The function to run, taking one ``struct`` argument.
            name: Defaults to ``fn.__name__``.
            description: Defaults to the first paragraph of ``fn``'s docstring, else of
                ``struct``'s.
            strict: Ask for strict schema adherence.
            thread: Run a sync ``fn`` in ``asyncio.to_thread``.

        Raises:
            ToolDefinitionError: ``struct`` is not a Struct type or cannot be described.
        """
        if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            raise ToolDefinitionError(f"from_struct() takes a msgspec.Struct type, not {struct!r}")
        tool_name = check_tool_name(name if name is not None else getattr(fn, "__name__", None))
        schema = parameters_schema(struct, tool=tool_name, strict=strict)
        if description is None:
            description = (
                parse_docstring(_docstring_of(fn)).summary
                or parse_docstring(struct.__doc__).summary
            )
        self = cast("FunctionTool[[S], R]", object.__new__(cls))
        self._setup(fn, tool_name, description, schema, strict, thread, struct, None)
        return self

    def _setup(
        self,
        fn: Callable[..., Any],
        name: str,
        description: str | None,
        parameters: dict[str, Any],
        strict: bool,
        thread: bool,
        struct: type[msgspec.Struct],
        plan: ArgumentsPlan | None,
    ) -> None:
        if thread and inspect.iscoroutinefunction(fn):
            raise ToolDefinitionError(
                f"tool {name!r}: thread=True is for blocking sync functions; this one is async"
            )
        # __wrapped__, __name__, __doc__...: the tool still looks like the function to
        # inspect.signature, help() and documentation tools. __dict__ is not merged, so
        # function attributes cannot shadow the tool's own.
        functools.update_wrapper(self, fn, updated=())
        self.name = name
        self.description = description or None
        self.parameters = parameters
        self.strict = strict
        self.thread = thread
        self.arguments_type = struct
        self._fn = fn
        self._plan = plan
        self._decoder = msgspec.json.Decoder(struct)
        self._definition = Tool(
            function=FunctionDefinition(
                name=name,
                description=self.description,
                parameters=parameters,
                # Omitted rather than false: some relays reject fields they do not know.
                strict=True if strict else None,
            )
        )

    @property
    def definition(self) -> Tool:
        """The tool definition to send in ``tools=[...]``."""
        return self._definition

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the original function, exactly as if it had not been decorated."""
        result: R = self._fn(*args, **kwargs)
        return result

    def __repr__(self) -> str:
        return f"FunctionTool(name={self.name!r}, strict={self.strict}, thread={self.thread})"

    def decode(self, arguments: Arguments) -> Any:
        """Decode and validate arguments into an :attr:`arguments_type` instance.

        Args:
            arguments: The JSON text the model wrote (empty or blank text means ``{}``,
                as some models send it for a call without arguments), or an already
                parsed JSON object.

        Returns:
            The :attr:`arguments_type` instance (returned as is if given one).

        Raises:
            ToolArgumentsError: Not valid JSON, or not valid for the parameters; the
                message names the field (``Expected `int`, got `str` - at `$.days```).
        """
        if isinstance(arguments, self.arguments_type):
            return arguments
        try:
            if isinstance(arguments, Mapping):
                return msgspec.convert(arguments, self.arguments_type)
            if isinstance(arguments, msgspec.Struct):
                raise msgspec.ValidationError(
                    f"Expected `{self.arguments_type.__name__}`, got `{type(arguments).__name__}`"
                )
            if isinstance(arguments, (bytearray, memoryview)):
                arguments = bytes(arguments)
            if not arguments or arguments.isspace():
                arguments = "{}"
            return self._decoder.decode(arguments)
        except msgspec.ValidationError as exc:
            raise ToolArgumentsError(self.name, f"invalid arguments: {exc}", arguments) from exc
        except msgspec.DecodeError as exc:
            raise ToolArgumentsError(
                self.name, f"arguments that are not valid JSON: {exc}", arguments
            ) from exc

    async def invoke(self, arguments: Arguments) -> object:
        """Decode and validate ``arguments``, then run the function with them.

        Args:
            arguments: As for :meth:`decode`.

        Returns:
            What the function returned (awaited, for an async function).

        Raises:
            ToolArgumentsError: The arguments are invalid; the function was not called.
            Exception: Whatever the function raised, unchanged.
        """
        value = self.decode(arguments)
        if self._plan is None:
            args: tuple[Any, ...] = (value,)
            kwargs: dict[str, Any] = {}
        else:
            args = tuple(getattr(value, n) for n in self._plan.positional)
            kwargs = {n: getattr(value, n) for n in self._plan.keyword}
        if self.thread:
            result = await asyncio.to_thread(self._fn, *args, **kwargs)
        else:
            result = self._fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


class _ToolDecorator(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> FunctionTool[P, R]: ...


@overload
def tool(
    fn: Callable[P, R],
    /,
    *,
    name: str | None = ...,
    description: str | None = ...,
    strict: bool = ...,
    thread: bool = ...,
) -> FunctionTool[P, R]: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = ...,
    description: str | None = ...,
    strict: bool = ...,
    thread: bool = ...,
) -> _ToolDecorator: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    thread: bool = False,
) -> FunctionTool[..., Any] | _ToolDecorator:
    """Turn a sync or async function into a :class:`FunctionTool`.

    Usable bare (``@tool``), with options (``@tool(name="weather", strict=True)``), or
    called (``tool(fn)``, ``tool(obj.method)``). The schema comes from the type hints:
    ``str``, ``int``, ``float``, ``bool``, ``Literal``, enums, ``list[...]``,
    ``dict[str, ...]``, ``X | None``, nested ``msgspec.Struct``\\s and ``TypedDict``\\s,
    and ``Annotated[..., msgspec.Meta(...)]`` for descriptions and bounds.

    Args:
        fn: The function (when used bare or called directly).
        name: The tool name; defaults to the function's name.
        description: Defaults to the first paragraph of the docstring.
        strict: Ask for strict schema adherence; the schema then follows strict mode's
            rules, and a signature that cannot be strict raises here.
        thread: Run a sync function in ``asyncio.to_thread`` when the model calls it.

    Returns:
        The tool, or a decorator making one.

    Raises:
        ToolDefinitionError: The function cannot be described as a tool.
    """
    if fn is not None:
        return FunctionTool(fn, name=name, description=description, strict=strict, thread=thread)

    def decorate(fn: Callable[..., Any], /) -> FunctionTool[Any, Any]:
        return FunctionTool(fn, name=name, description=description, strict=strict, thread=thread)

    return decorate


# --------------------------------------------------------------------------------------
# Toolboxes and calling tools
# --------------------------------------------------------------------------------------

ToolLike = FunctionTool[..., Any] | Tool | Mapping[str, Any] | Callable[..., Any]
"""A tool as accepted by :class:`Toolbox`: a :class:`FunctionTool`, a plain function
(made into one with :func:`tool`), or a definition only (``kk.types.Tool`` or a dict)."""

_Entry = FunctionTool[..., Any] | Tool | Mapping[str, Any]


def _definition_name(definition: Tool | Mapping[str, Any]) -> str:
    if isinstance(definition, Tool):
        return definition.function.name
    function = definition.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ToolDefinitionError(
            f"tool definition {definition!r:.200} has no function.name; expected "
            '{"type": "function", "function": {"name": ..., "parameters": {...}}}'
        )
    return name


class Toolbox(Mapping[str, _Entry]):
    """The tools of a conversation, by name: what to send, and what to run.

    A read-only mapping from tool name to the tool as given (:class:`FunctionTool`,
    ``kk.types.Tool`` or dict), plus what the chat layer needs: :attr:`definitions` for
    ``tools=``, :attr:`arguments_types` for typed arguments in stream events, and
    :meth:`call` to answer a tool call.
    """

    __slots__ = ("_entries",)

    def __init__(self, tools: Iterable[ToolLike] = ()) -> None:
        """Collect tools.

        Args:
            tools: :class:`FunctionTool`\\s, plain functions (made into tools with
                :func:`tool`), ``kk.types.Tool`` structs or dict definitions.

        Raises:
            ToolDefinitionError: Two tools share a name, a dict has no
                ``function.name``, or a function cannot be made into a tool.
        """
        self._entries: dict[str, _Entry] = {}
        for item in tools:
            self.add(item)

    def add(self, item: ToolLike) -> None:
        """Add one tool (see :meth:`__init__` for what it may be)."""
        entry: _Entry
        if isinstance(item, (FunctionTool, Tool, Mapping)):
            entry = item
        elif callable(item):
            entry = tool(item)
        else:
            raise ToolDefinitionError(f"not a tool: {item!r:.200}")
        name = entry.name if isinstance(entry, FunctionTool) else _definition_name(entry)
        if name in self._entries:
            raise ToolDefinitionError(f"two tools are named {name!r}; tool names must be unique")
        self._entries[name] = entry

    def __getitem__(self, name: str) -> _Entry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Toolbox({list(self._entries)!r})"

    @property
    def definitions(self) -> list[Tool | Mapping[str, Any]]:
        """The tool definitions for ``tools=[...]`` (dicts as they were given)."""
        return [e.definition if isinstance(e, FunctionTool) else e for e in self._entries.values()]

    @property
    def arguments_types(self) -> dict[str, type[msgspec.Struct]]:
        """Tool name -> arguments type, for the accumulator's ``arg_types``."""
        return {
            name: e.arguments_type
            for name, e in self._entries.items()
            if isinstance(e, FunctionTool)
        }

    async def call(
        self,
        tool_call: ChatCompletionMessageToolCall | ToolCallDoneEvent | Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> ToolMessage:
        """Run the tool a model called and answer with its ``tool`` message.

        See :func:`call_tool`; :meth:`run` also says whether the tool failed.
        """
        return (await self.run(tool_call, timeout=timeout)).message

    async def run(
        self,
        tool_call: ChatCompletionMessageToolCall | ToolCallDoneEvent | Mapping[str, Any],
        *,
        timeout: float | None = None,
    ) -> ToolOutcome:
        """Run the tool a model called: its ``tool`` message, and whether it failed.

        As :meth:`call`, for callers that must tell a failure from an answer (the tool
        loop's ``ToolResultEvent.error``) without reading the message's text.

        Raises:
            InvalidParameterError: ``tool_call`` is not a tool call, or ``timeout`` is
                not positive.
        """
        if timeout is not None and not timeout > 0:
            raise InvalidParameterError(
                "timeout", f"must be a positive number or None, not {timeout!r}"
            )
        call_id, name, arguments, value = _unpack(tool_call)
        entry = self._entries.get(name)
        failed = True
        if entry is None:
            known = ", ".join(repr(n) for n in self._entries) or "none"
            content = f"Error: there is no tool named {name!r}. The available tools are: {known}."
        elif not isinstance(entry, FunctionTool):
            content = f"Error: tool {name!r} is not available to run here."
        else:
            given = value if isinstance(value, entry.arguments_type) else arguments
            content, failed = await _run(entry, given, timeout)
        return ToolOutcome(ToolMessage(content=content, tool_call_id=call_id), failed)


class ToolOutcome(NamedTuple):
    """What :meth:`Toolbox.run` returns.

    Attributes:
        message: The ``tool`` message to send back to the model.
        failed: Whether the message reports a failure (an unknown tool, invalid
            arguments, an exception, a timeout or an unencodable result) rather than
            the tool's result.
    """

    message: ToolMessage
    failed: bool


def _unpack(
    tool_call: ChatCompletionMessageToolCall | ToolCallDoneEvent | Mapping[str, Any],
) -> tuple[str, str, Arguments, object]:
    """(id, name, arguments, decoded value if already known) of a tool call."""
    if isinstance(tool_call, ChatCompletionMessageToolCall):
        return tool_call.id, tool_call.function.name, tool_call.function.arguments, None
    if isinstance(tool_call, ToolCallDoneEvent):
        return tool_call.id or "", tool_call.name, tool_call.arguments, tool_call.value
    if isinstance(tool_call, Mapping):
        function = tool_call.get("function")
        if isinstance(function, Mapping):
            call_id = tool_call.get("id")
            name = function.get("name")
            arguments = function.get("arguments")
            if arguments is None:
                arguments = ""
            if (
                isinstance(call_id, str)
                and isinstance(name, str)
                and isinstance(arguments, (str, Mapping))
            ):
                return call_id, name, arguments, None
    raise InvalidParameterError(
        "tool_call",
        "expected a ChatCompletionMessageToolCall, a ToolCallDoneEvent or a dict "
        '{"id": str, "function": {"name": str, "arguments": str}}, '
        f"got {tool_call!r:.200}",
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _guarded(tool: FunctionTool[..., Any], value: msgspec.Struct) -> tuple[bool, object]:
    # Exceptions of the tool become values here, so that a TimeoutError coming out of
    # wait_for() can only be the timeout's own, never one the tool raised.
    try:
        return True, await tool.invoke(value)
    except Exception as exc:
        return False, exc


async def _run(
    tool: FunctionTool[..., Any], arguments: Arguments, timeout: float | None
) -> tuple[str, bool]:
    """Decode, run and serialise: the content to send, and whether it reports a failure.

    Every failure becomes an ``Error: ...`` text for the model. A tool that raised or
    timed out is also logged at WARNING (with the traceback): that is a bug or an outage
    on the caller's side, which the model's retry may hide. Arguments the model got
    wrong are the model's mistake, logged at INFO.
    """
    try:
        value = tool.decode(arguments)
    except ToolArgumentsError as exc:
        _logger.info("rejected the arguments of a call to %r: %s", tool.name, exc.message)
        return f"Error: {exc.message}", True
    if timeout is None:
        ok, result = await _guarded(tool, value)
    else:
        try:
            ok, result = await asyncio.wait_for(_guarded(tool, value), timeout)
        except asyncio.TimeoutError:
            _logger.warning("tool %r timed out after %gs", tool.name, timeout)
            return f"Error: tool {tool.name!r} did not finish within {timeout:g} seconds.", True
    if not ok:
        assert isinstance(result, Exception)
        _logger.warning("tool %r raised %s", tool.name, _describe(result), exc_info=result)
        return f"Error: tool {tool.name!r} failed: {_describe(result)}", True
    if isinstance(result, str):
        return result, False
    try:
        return _encoder.encode(result).decode(), False
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        _logger.warning("tool %r returned a value that is not JSON: %s", tool.name, exc)
        return (
            f"Error: tool {tool.name!r} returned a value that cannot be sent as JSON: "
            f"{_describe(exc)}"
        ), True


async def call_tool(
    tools: Toolbox | Iterable[ToolLike],
    tool_call: ChatCompletionMessageToolCall | ToolCallDoneEvent | Mapping[str, Any],
    *,
    timeout: float | None = None,
) -> ToolMessage:
    """Run the tool a model called, and answer with the ``tool`` message to send back.

    The arguments are decoded and validated into the tool's parameter types first; the
    function is called only with valid arguments. The result becomes the message
    content: a ``str`` as it is, anything else as JSON (``msgspec.json.encode``: structs,
    dicts, lists, numbers, ``None`` -> ``"null"``).

    Never raises for what the model or the tool did wrong: an unknown tool name, invalid
    JSON, invalid arguments, an exception inside the tool, a timeout or an unencodable
    result each give a message starting with ``"Error: "`` that tells the model what
    happened, e.g. ``Error: tool 'get_weather' failed: ValueError: unknown city``.
    Cancellation is not swallowed.

    Args:
        tools: A :class:`Toolbox`, or the tools to build one from (build the
            :class:`Toolbox` once when answering many calls).
        tool_call: From a completion (``message.tool_calls[i]``), a stream's
            ``ToolCallDoneEvent`` (its typed ``value`` is used when it is the tool's
            arguments type), or a dict of the same shape.
        timeout: Seconds the tool may run; ``None`` for no limit. Only what awaits can
            be interrupted (see the module docstring).

    Returns:
        The ``tool`` message answering ``tool_call`` (same ``tool_call_id``).

    Raises:
        InvalidParameterError: ``tool_call`` is not a tool call, or ``timeout`` is not
            positive.
        ToolDefinitionError: ``tools`` contains something that is not a tool.
    """
    box = tools if isinstance(tools, Toolbox) else Toolbox(tools)
    return await box.call(tool_call, timeout=timeout)


# --------------------------------------------------------------------------------------
# tool_choice
# --------------------------------------------------------------------------------------

AUTO: Final = "auto"
"""``tool_choice=AUTO``: the model decides whether to call tools (the default)."""
NONE: Final = "none"
"""``tool_choice=NONE``: the model must not call a tool."""
REQUIRED: Final = "required"
"""``tool_choice=REQUIRED``: the model must call at least one tool."""


def force(tool: FunctionTool[..., Any] | Tool | Mapping[str, Any] | str) -> NamedToolChoice:
    """``tool_choice`` that makes the model call one particular tool.

    Args:
        tool: The tool, its definition, or its name.

    Returns:
        ``{"type": "function", "function": {"name": ...}}`` as a ``NamedToolChoice``.
    """
    if isinstance(tool, FunctionTool):
        name = tool.name
    elif isinstance(tool, str):
        name = tool
    else:
        name = _definition_name(tool)
    return NamedToolChoice(function=NamedFunction(name=name))
