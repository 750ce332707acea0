"""llama.cpp's OpenAI-compatible server on loopback, serving a model the tests write.

The model is a tiny llama-architecture network with random weights, written with the
``gguf`` package, so the suite downloads nothing and the server starts in seconds. Its
answers are nonsense, but they are *llama.cpp's* nonsense: the chunks, the tool-call
fragments, the finish reasons and the error bodies are what a real deployment of
``llama_cpp.server`` sends, which is the point of testing against it.

Two choices make the model useful for tests rather than merely loadable:

- The vocabulary is SentencePiece-style ("llama" tokenizer model) with a byte fallback
  token ``<0xXX>`` for every one of the 256 bytes, plus ``<unk>``, ``<s>``, ``</s>`` and
  ``▁`` (the SentencePiece space). Any text tokenizes; one byte is one token.
- The output rows of every token that is not printable ASCII (control bytes, bytes of
  multi-byte UTF-8, ``</s>``) are zero, so their logit is exactly 0 while a printable
  token's is almost surely positive somewhere. Greedy decoding therefore writes printable
  ASCII and never ends by itself: a reply ends at ``max_tokens`` (``finish_reason:
  "length"``), or where a grammar leaves ``</s>`` as the only choice (a forced tool call).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LlamaServer", "run_llama_server", "write_tiny_model"]

# The model's shape: the smallest that is still an ordinary llama (grouped heads, SwiGLU).
_DIM = 64
_HEADS = 4
_KV_HEADS = 2
_FF = 128
_LAYERS = 2
_TRAIN_CTX = 512

_UNK, _BOS, _EOS = 0, 1, 2
_FIRST_BYTE = 3  # token 3 + b is the byte b


def _vocabulary() -> tuple[list[str], list[int], list[bool]]:
    """The token strings, their gguf token types, and whether each may be generated."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    printable = [False, False, False]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(TokenType.BYTE)
        printable.append(0x20 <= b < 0x7F)
    # SentencePiece writes a space as U+2581; as a normal token it decodes to " ".
    tokens.append("\u2581")
    types.append(TokenType.NORMAL)
    printable.append(True)
    return tokens, [int(t) for t in types], printable


def write_tiny_model(path: Path, *, seed: int = 0) -> None:
    """Write a random-weight llama model that llama.cpp loads (under 0.5 MB).

    Args:
        path: Where to write the ``.gguf`` file.
        seed: Seeds the weights, so the same seed writes the same model.
    """
    import gguf
    import numpy as np

    tokens, types, printable = _vocabulary()
    n_vocab = len(tokens)
    head_dim = _DIM // _HEADS
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        # numpy shapes are gguf's dimensions reversed: (rows = outputs, columns = inputs).
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("kkiai-async test model (random weights)")
    writer.add_context_length(_TRAIN_CTX)
    writer.add_embedding_length(_DIM)
    writer.add_block_count(_LAYERS)
    writer.add_feed_forward_length(_FF)
    writer.add_head_count(_HEADS)
    writer.add_head_count_kv(_KV_HEADS)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * n_vocab)
    writer.add_token_types(types)
    writer.add_unk_token_id(_UNK)
    writer.add_bos_token_id(_BOS)
    writer.add_eos_token_id(_EOS)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    output = weights(n_vocab, _DIM)
    output[~np.array(printable)] = 0.0
    writer.add_tensor("token_embd.weight", weights(n_vocab, _DIM))
    writer.add_tensor("output_norm.weight", np.ones(_DIM, dtype=np.float32))
    writer.add_tensor("output.weight", output)
    for i in range(_LAYERS):
        block = f"blk.{i}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(_DIM, dtype=np.float32))
        writer.add_tensor(f"{block}.attn_q.weight", weights(_HEADS * head_dim, _DIM))
        writer.add_tensor(f"{block}.attn_k.weight", weights(_KV_HEADS * head_dim, _DIM))
        writer.add_tensor(f"{block}.attn_v.weight", weights(_KV_HEADS * head_dim, _DIM))
        writer.add_tensor(f"{block}.attn_output.weight", weights(_DIM, _HEADS * head_dim))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(_DIM, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", weights(_FF, _DIM))
        writer.add_tensor(f"{block}.ffn_up.weight", weights(_FF, _DIM))
        writer.add_tensor(f"{block}.ffn_down.weight", weights(_DIM, _FF))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@dataclass(frozen=True)
class LlamaServer:
    """A running ``llama_cpp.server``.

    Attributes:
        base_url: The OpenAI base URL, ``http://127.0.0.1:PORT/v1``.
        model: The model name the server reports (the path it was given).
        n_ctx: The context length it was started with.
        log: Its combined stdout and stderr, for failure messages.
    """

    base_url: str
    model: str
    n_ctx: int
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Return once ``GET url`` answers 200; raise if the server exits or takes too long.

    The server is another process that signals nothing when it is ready, so this asks it,
    a few times a second, for at most a minute (it is ready in a few seconds on two cores).
    """
    deadline = time.monotonic() + 60.0
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with status {process.returncode}:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        try:
            with urllib.request.urlopen(url, timeout=5.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                "llama_cpp.server did not answer within 60 s:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        time.sleep(0.2)


@contextlib.contextmanager
def run_llama_server(directory: Path, *, n_ctx: int = 256) -> Iterator[LlamaServer]:
    """Write the tiny model into ``directory``, serve it, and stop the server on exit.

    Args:
        directory: A scratch directory for the model file and the server's log.
        n_ctx: The context length: small, so that a prompt can exceed it cheaply.

    Yields:
        The running server.
    """
    model = directory / "tiny-llama.gguf"
    write_tiny_model(model)
    log = directory / "llama-server.log"
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--chat_format",
        "chatml-function-calling",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        "1",
    ]
    # The server must not reach the network either; it has no reason to, and no proxy.
    env = {**os.environ, "NO_PROXY": "*"}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(process, f"{base}/v1/models", log)
        with urllib.request.urlopen(f"{base}/v1/models", timeout=5.0) as response:
            name = json.load(response)["data"][0]["id"]
        yield LlamaServer(base_url=f"{base}/v1", model=name, n_ctx=n_ctx, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
