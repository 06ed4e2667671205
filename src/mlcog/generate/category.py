"""Two-step generation of category-learning tasks: label sets (step 1), then stimuli for each (step 2).

Output is the generated-tasks CSV that the ``file`` prior reads (``input``, ``target``, ``trial_id``,
``task_id``; ``input`` a JSON list of D numbers, ``target`` the category name) plus a sidecar
``<file>.json`` with the full generation config, the prompt version and its template text, the backend's
identity, every rejection counted by reason, and the token/cost summary.  ``task_id`` is the index of the
label set in the label file the run used (recorded in the sidecar), so every task can be traced back.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from mlcog.generate import parse
from mlcog.generate.backends import Backend, GenerationSettings, make_backend
from mlcog.generate.prompts import PROMPT_VERSION, data_prompt, labels_prompt, templates
from mlcog.generate.runner import Request, ResponseCache, RetryPolicy, atomic_write_text, run_requests

BUNDLED_LABEL_DIMS = (3, 4, 6)


def bundled_labels_path(dims: int) -> Path:
    """The Claude-generated label sets shipped with mlcog (ERMI's step-1 output, prompt v5) for D = 3, 4, 6."""
    if dims not in BUNDLED_LABEL_DIMS:
        raise ValueError(f"bundled task labels exist for D in {BUNDLED_LABEL_DIMS}, not {dims}; generate labels "
                         "first (mlcog generate labels) or pass a labels file")
    return Path(str(resources.files("mlcog") / "data" / "files" / "tasks" / f"claude_tasklabels_dim{dims}.csv.gz"))


def read_labels(path: str | Path, dims: int) -> list[tuple[list[str], list[str]]]:
    """Read a label file (``feature_names``, ``category_names`` as Python-list text, as ERMI stores them).

    Rows that do not have ``dims`` features and two categories raise an error naming the line."""
    import ast

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"labels file not found: {path}")
    df = pd.read_csv(path)
    for col in ("feature_names", "category_names"):
        if col not in df.columns:
            raise ValueError(f"{path}: missing column {col!r} (found {list(df.columns)})")
    out = []
    for i, (f, c) in enumerate(zip(df["feature_names"], df["category_names"], strict=True)):
        try:
            features, cats = ast.literal_eval(str(f)), ast.literal_eval(str(c))
        except (ValueError, SyntaxError):
            raise ValueError(f"{path}, line {i + 2}: expected Python lists like \"['a', 'b']\", got {f!r}, {c!r}")\
                from None
        if len(features) != dims or len(cats) != 2:
            raise ValueError(f"{path}, line {i + 2}: expected {dims} features and 2 categories, got "
                             f"{len(features)} and {len(cats)}")
        out.append(([str(x) for x in features], [str(x) for x in cats]))
    return out


def write_labels(path: Path, sets: list[tuple[list[str], list[str]]]) -> None:
    rows = [{"feature_names": str(list(f)), "category_names": str(list(c)), "task_id": i}
            for i, (f, c) in enumerate(sets)]
    table = pd.DataFrame(rows, columns=["feature_names", "category_names", "task_id"])
    atomic_write_text(path, table.to_csv(index=False))


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of one generation run (all recorded in the output's sidecar JSON).

    ``n_rows`` stimuli are requested per task (the paper: 100 with Claude; fewer suit small local models).
    ``max_tokens`` 0 means "enough for ``n_rows`` rows of ``dims`` values".  Step 2 uses label sets
    ``first_label .. first_label + n_tasks - 1`` of the label file; request ``k`` is sampled with seed
    ``seed + k`` so a run extended to more tasks reuses every cached response of the shorter run.
    """

    dims: int = 3
    n_tasks: int = 5
    n_rows: int = 25
    min_rows: int = 10
    backend: str = "auto"
    model: str | None = None
    base_url: str | None = None
    labels_file: str | None = None
    first_label: int = 0
    labels_per_prompt: int = 20
    prompt_version: str = PROMPT_VERSION
    temperature: float = 1.0
    max_tokens: int = 0
    seed: int = 0
    concurrency: int = 4
    n_threads: int = 1
    max_attempts: int = 6
    # Local backend only (API backends ignore it): "balanced" = grammar-constrained rows, first half category 1,
    # second half category 2, values chosen by the model; "free" = constrained format, model picks labels too;
    # "none" = unconstrained text, parsed like API output.
    constrain: str = "balanced"

    def token_budget(self) -> int:
        return self.max_tokens or min(8192, 96 + self.n_rows * (12 + 8 * self.dims))


def _settings(cfg: GenerateConfig, seed: int, max_tokens: int, grammar: str | None = None) -> GenerationSettings:
    return GenerationSettings(max_tokens=max_tokens, temperature=cfg.temperature, seed=seed, grammar=grammar)


def generate_labels(cfg: GenerateConfig, backend: Backend, cache: ResponseCache, n_sets: int,
                    cache_only: bool = False, progress=None) -> tuple[list, dict]:
    """Step 1: ask for label sets, ``labels_per_prompt`` per request, until ``n_sets`` distinct ones are parsed
    (at most 5 rounds); returns the sets and a summary with rejection counts and usage."""
    sets, seen, rejected = [], set(), Counter()
    usages, round_ = [], 0
    while len(sets) < n_sets and round_ < 5:
        need = n_sets - len(sets)
        n_prompts = math.ceil(1.5 * need / cfg.labels_per_prompt)
        base = 1_000_000 + round_ * 10_000  # seeds apart from step 2's
        grammar = (parse.labels_grammar(cfg.dims, cfg.labels_per_prompt)
                   if backend.name == "local" and cfg.constrain != "none" else None)
        reqs = [Request(labels_prompt(cfg.dims, cfg.labels_per_prompt, cfg.prompt_version),
                        _settings(cfg, cfg.seed + base + k, 64 + cfg.labels_per_prompt * (12 + 6 * cfg.dims), grammar),
                        cfg.prompt_version) for k in range(n_prompts)]
        results, usage = run_requests(backend, reqs, cache, cfg.concurrency,
                                      RetryPolicy(max_attempts=cfg.max_attempts), cache_only=cache_only,
                                      on_done=progress)
        usages.append(usage.to_dict())
        for r in results:
            if r.text is None:
                rejected[parse.NO_RESPONSE] += 1
                continue
            parsed = parse.parse_label_sets(r.text, cfg.dims)
            rejected.update(parsed.rejected)
            for f, c in parsed.sets:
                key = tuple(parse.normalise_name(x) for x in f + c)
                if key in seen:
                    rejected[parse.DUPLICATE] += 1
                    continue
                seen.add(key)
                sets.append((f, c))
        round_ += 1
        if cache_only:
            break
    return sets[:n_sets], {"label_sets": len(sets[:n_sets]), "rejected": dict(rejected), "usage": usages}


def generate_category_tasks(cfg: GenerateConfig, out: str | Path, backend: Backend | None = None,
                            cache_dir: str | Path | None = None, cache_only: bool = False,
                            progress: bool = False) -> dict:
    """Run both steps (step 1 only when no label file is given and none is bundled for ``cfg.dims``) and
    write ``out`` (the tasks CSV) and ``out.json`` (the run summary).  Returns the summary."""
    out = Path(out)
    if cfg.n_tasks < 1 or cfg.n_rows < 1:
        raise ValueError(f"need n_tasks >= 1 and n_rows >= 1, got {cfg.n_tasks} and {cfg.n_rows}")
    if cfg.min_rows > cfg.n_rows:
        raise ValueError(f"min_rows ({cfg.min_rows}) is larger than the rows requested per task ({cfg.n_rows})")
    templates(cfg.prompt_version)  # unknown versions fail before any request
    backend = backend or make_backend(cfg.backend, cfg.model, cfg.base_url, n_threads=cfg.n_threads)
    cache = ResponseCache(cache_dir or out.parent / "cache")
    t0 = time.time()
    summary: dict = {"prompt_version": cfg.prompt_version, "templates": asdict(templates(cfg.prompt_version)),
                     "config": asdict(cfg), "backend": backend.describe(), "output": str(out),
                     "cache_only": cache_only}

    # Step 1: label sets.
    if cfg.labels_file:
        label_path = Path(cfg.labels_file)
        label_sets = read_labels(label_path, cfg.dims)
    elif cfg.dims in BUNDLED_LABEL_DIMS:
        label_path = bundled_labels_path(cfg.dims)
        label_sets = read_labels(label_path, cfg.dims)
    else:
        label_path = out.with_suffix(".labels.csv")
        label_sets, summary["step1"] = generate_labels(cfg, backend, cache, cfg.first_label + cfg.n_tasks,
                                                       cache_only, _progress(progress, "labels"))
        write_labels(label_path, label_sets)
    summary["labels_file"] = str(label_path)
    chosen = list(range(cfg.first_label, min(len(label_sets), cfg.first_label + cfg.n_tasks)))
    if len(chosen) < cfg.n_tasks:
        summary["label_sets_missing"] = cfg.n_tasks - len(chosen)

    # Step 2: stimuli for each label set.
    budget = cfg.token_budget()
    if cfg.constrain not in ("balanced", "free", "none"):
        raise ValueError(f"constrain must be balanced, free or none, got {cfg.constrain!r}")
    constrain = cfg.constrain if backend.name == "local" else "none"
    summary["constrained_decoding"] = constrain

    def grammar(cats):
        return None if constrain == "none" else parse.row_grammar(cfg.dims, cats, cfg.n_rows, constrain == "balanced")
    reqs = [Request(data_prompt(*label_sets[k], cfg.n_rows, cfg.prompt_version),
                    _settings(cfg, cfg.seed + k, budget, grammar(label_sets[k][1])), cfg.prompt_version)
            for k in chosen]
    results, usage = run_requests(backend, reqs, cache, cfg.concurrency, RetryPolicy(max_attempts=cfg.max_attempts),
                                  cache_only=cache_only, on_done=_progress(progress, "tasks", len(reqs)))
    rows_rejected, tasks_rejected, rows_out = Counter(), Counter(), []
    seen_tasks, prose, n_kept = set(), 0, 0
    for k, r in zip(chosen, results, strict=True):
        if r.text is None:
            tasks_rejected[parse.NO_RESPONSE if r.error != "not in cache" else "not in cache"] += 1
            continue
        features, cats = label_sets[k]
        parsed = parse.parse_rows(r.text, cfg.dims, cats)
        rows_rejected.update(parsed.rejected)
        prose += parsed.prose_lines
        reason = parse.task_rejection(parsed, cfg.min_rows)
        signature = tuple(sorted(zip(map(tuple, parsed.values), parsed.labels, strict=True)))
        if reason is None and signature in seen_tasks:
            reason = parse.DUPLICATE
        if reason is not None:
            tasks_rejected[reason] += 1
            continue
        seen_tasks.add(signature)
        n_kept += 1
        for t, (values, label) in enumerate(zip(parsed.values, parsed.labels, strict=True)):
            rows_out.append({"input": json.dumps([float(v) for v in values]), "target": cats[label],
                             "trial_id": t, "task_id": k})
    tasks = pd.DataFrame(rows_out, columns=["input", "target", "trial_id", "task_id"])
    atomic_write_text(out, tasks.to_csv(index=False))
    summary.update({
        "tasks_requested": cfg.n_tasks, "tasks_kept": n_kept, "rows_kept": len(rows_out),
        "tasks_rejected": dict(tasks_rejected), "rows_rejected": dict(rows_rejected), "prose_lines": prose,
        "usage": usage.to_dict(), "seconds": round(time.time() - t0, 1),
    })
    atomic_write_text(Path(str(out) + ".json"), json.dumps(summary, indent=2, default=str))
    return summary


def _progress(enabled: bool, name: str, total: int | None = None):
    """A tqdm bar's update callback for :func:`run_requests`, or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=name, unit="req")

    def done(i, result):
        bar.update(1)
        bar.set_postfix_str("cached" if result.cached else ("error" if result.error else "new"))
    return done
