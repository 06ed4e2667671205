"""Robust request running: bounded concurrency, retries with exponential backoff, rate-limit pauses, an on-disk
cache of raw responses, and token/cost accounting.

The cache is what makes a run resumable: every response is written (atomically) as soon as it arrives, keyed by
a hash of the prompt, the prompt version, the backend's identity (name, model, endpoint; never a key) and the
sampling settings.  A run that is killed and started again with the same settings reads finished responses from
disk and only asks for the missing ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlcog.generate.backends import (
    PRICES_PER_MTOK,
    Backend,
    BackendError,
    GenerationSettings,
    RateLimited,
    TransientError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base_delay * 2**attempt`` (capped at ``max_delay``) times a random factor in
    [1 - jitter, 1 + jitter]; a rate limit's ``retry-after`` wins when the server sends one."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.25

    def delay(self, attempt: int, rng: random.Random) -> float:
        d = min(self.max_delay, self.base_delay * 2**attempt)
        return d * (1 + self.jitter * (2 * rng.random() - 1))


@dataclass(frozen=True)
class Request:
    prompt: str
    settings: GenerationSettings
    prompt_version: str


@dataclass
class Result:
    text: str | None
    cached: bool = False
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Usage:
    """Token and request accounting for one run; ``new_*`` are this run's requests, ``cached_*`` cache hits."""

    model: str = ""
    local: bool = False  # an in-process model: no per-token price
    requests: int = 0
    new_requests: int = 0
    cached: int = 0
    failed: int = 0
    skipped_not_cached: int = 0
    retries: int = 0
    rate_limited: int = 0
    new_input_tokens: int = 0
    new_output_tokens: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def cost_usd(self) -> float | None:
        """Cost of this run's new requests at list prices; None where the model's price is unknown."""
        if self.local:
            return 0.0
        price = PRICES_PER_MTOK.get(self.model)
        if price is None:
            return None
        return (self.new_input_tokens * price[0] + self.new_output_tokens * price[1]) / 1e6

    def to_dict(self) -> dict:
        out = asdict(self)
        out["cost_usd"] = self.cost_usd()
        out["price_known"] = self.local or self.model in PRICES_PER_MTOK
        return out


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so that a killed
    run leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResponseCache:
    """Raw responses on disk, one JSON file per request under ``directory/ab/abcdef....json``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(request: Request, backend: dict) -> str:
        blob = json.dumps({"prompt": request.prompt, "prompt_version": request.prompt_version,
                           "backend": backend, "settings": asdict(request.settings)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a torn or foreign file: ask again (writes are atomic, so this is rare)

    def put(self, key: str, record: dict) -> None:
        atomic_write_text(self._path(key), json.dumps(record))


class _Pause:
    """A pause shared by all workers: after a rate limit, nobody sends until it has passed."""

    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self._until, self._lock, self._sleep, self._clock = 0.0, threading.Lock(), sleep, clock

    def extend(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def wait(self) -> None:
        with self._lock:
            left = self._until - self._clock()
        if left > 0:
            self._sleep(left)


def run_requests(backend: Backend, requests: list[Request], cache: ResponseCache, concurrency: int = 4,
                 policy: RetryPolicy = RetryPolicy(), cache_only: bool = False,
                 on_done: Callable[[int, Result], None] | None = None,
                 sleep: Callable[[float], None] | None = None, clock: Callable[[], float] | None = None,
                 seed: int = 0) -> tuple[list[Result], Usage]:
    """Answer every request, from the cache where possible; returns results in request order and the usage.

    A request that still fails after ``policy.max_attempts`` (or fails permanently) gets ``Result.error`` and
    is counted in ``usage.failed``; the run goes on with the others.  With ``cache_only`` nothing is sent and
    uncached requests are counted in ``usage.skipped_not_cached``.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    sleep = sleep or time.sleep  # looked up per call, so tests can stub time.sleep
    clock = clock or time.monotonic
    ident = backend.describe()
    usage = Usage(model=backend.model, local=backend.name == "local", requests=len(requests))
    lock = threading.Lock()
    pause = _Pause(sleep, clock)
    rng = random.Random(seed)
    results: list[Result | None] = [None] * len(requests)

    def count_error(kind: str) -> None:
        with lock:
            usage.errors[kind] = usage.errors.get(kind, 0) + 1

    def one(i: int) -> Result:
        req = requests[i]
        key = cache.key(req, ident)
        hit = cache.get(key)
        if hit is not None:
            with lock:
                usage.cached += 1
                usage.cached_input_tokens += hit.get("input_tokens", 0)
                usage.cached_output_tokens += hit.get("output_tokens", 0)
            return Result(hit["text"], cached=True, input_tokens=hit.get("input_tokens", 0),
                          output_tokens=hit.get("output_tokens", 0))
        if cache_only:
            with lock:
                usage.skipped_not_cached += 1
            return Result(None, error="not in cache")
        last = ""
        for attempt in range(policy.max_attempts):
            pause.wait()
            try:
                c = backend.complete(req.prompt, req.settings)
            except RateLimited as exc:
                last = str(exc)
                count_error("rate limited")
                with lock:
                    usage.rate_limited += 1
                    delay = exc.retry_after if exc.retry_after is not None else policy.delay(attempt, rng)
                pause.extend(delay)
            except TransientError as exc:
                last = str(exc)
                count_error("transient")
                with lock:
                    delay = policy.delay(attempt, rng)
                sleep(delay)
            except BackendError as exc:
                count_error("permanent")
                return Result(None, error=str(exc))
            else:
                with lock:
                    usage.new_requests += 1
                    usage.new_input_tokens += c.input_tokens
                    usage.new_output_tokens += c.output_tokens
                cache.put(key, {"text": c.text, "input_tokens": c.input_tokens, "output_tokens": c.output_tokens,
                                "stop_reason": c.stop_reason, "prompt": req.prompt,
                                "prompt_version": req.prompt_version, "backend": ident,
                                "settings": asdict(req.settings), "time": time.time()})
                return Result(c.text, input_tokens=c.input_tokens, output_tokens=c.output_tokens)
            if attempt + 1 < policy.max_attempts:
                with lock:
                    usage.retries += 1
        return Result(None, error=f"gave up after {policy.max_attempts} attempts: {last}")

    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        futures = {pool.submit(one, i): i for i in range(len(requests))}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if results[i].error and results[i].error != "not in cache":
                usage.failed += 1
            if on_done is not None:
                on_done(i, results[i])
    finally:
        # On Ctrl-C: drop what has not started; finished responses are already in the cache.
        pool.shutdown(wait=True, cancel_futures=True)
    return results, usage
