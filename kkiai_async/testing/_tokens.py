"""The fake server's notion of a token: how text is split, counted and given logprobs.

Why not a real tokenizer: the fake server must be deterministic, dependency-free and
cheap, and a test must be able to predict its numbers. A "token" here is a run of word
characters or a run of punctuation, each with the whitespace before it (``"Hello"``,
``" world"``, ``"!"``), which is roughly what real BPE tokenizers produce for English.
The same split drives streamed fragments, ``usage`` counts and ``logprobs``, so they
agree with each other: a default streamed reply has one content chunk per token.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

__all__ = ["count_tokens", "fragments", "split_tokens", "token_logprob"]

# The three alternatives partition any text: whitespace then a word run, whitespace then
# a punctuation run, or trailing whitespace. "".join(findall(text)) == text always.
_TOKEN_RE = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")

_ALTERNATIVES = (
    " the", " a", ",", ".", " and", " to", " of", " it", " is", " I", " you",
    " that", " in", " for", " on", " with", " as", " this", " be", " at", " not",
)  # fmt: skip


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into tokens whose concatenation is ``text``."""
    return _TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """The number of tokens in ``text``: what the fake server reports in ``usage``.

    Args:
        text: Any text.

    Returns:
        ``len(split_tokens(text))``; 0 for the empty string.
    """
    return len(_TOKEN_RE.findall(text))


def fragments(text: str, chunk_size: int | None) -> list[str]:
    """Split ``text`` into streamed fragments.

    Args:
        text: The whole content or arguments text.
        chunk_size: Characters per fragment, or ``None`` for one fragment per token.

    Returns:
        Non-empty fragments whose concatenation is ``text``.
    """
    if chunk_size is None:
        return _TOKEN_RE.findall(text)
    return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]


def token_logprob(token: str, salt: str, top_logprobs: int) -> dict[str, Any]:
    """A deterministic ``logprobs.content[]`` entry for ``token``.

    The chosen token is always the most likely one (a log probability in
    ``(-0.05, 0]``) and heads its own ``top_logprobs`` list, as with greedy sampling;
    the alternatives get strictly smaller values.

    Args:
        token: The generated token (one streamed fragment).
        salt: Makes choices of one request differ.
        top_logprobs: How many entries ``top_logprobs`` holds (0 to 20).
    """
    raw = token.encode()
    h = zlib.crc32(raw, zlib.crc32(salt.encode()))
    logprob = -(h % 5000) / 100000
    top: list[dict[str, Any]] = []
    if top_logprobs:
        top.append({"token": token, "logprob": logprob, "bytes": list(raw)})
        alternatives = (alt for alt in _ALTERNATIVES if alt != token)
        for rank, alt in zip(range(1, top_logprobs), alternatives, strict=False):
            alt_logprob = round(logprob - 1.25 * rank - ((h >> rank) % 97) / 1000, 5)
            top.append({"token": alt, "logprob": alt_logprob, "bytes": list(alt.encode())})
    return {"token": token, "logprob": logprob, "bytes": list(raw), "top_logprobs": top}
