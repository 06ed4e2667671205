"""Function-learning throughput: meta-training steps/s per prior and model size, prior sampling and classic fits.

Runs the real training step (sample a batch from the prior, forward, Gaussian NLL, backward, clipping, Adam)
and prints steps/s, tasks/s and peak memory, plus the time of a GP-regression fit (marginal likelihood,
4 starts) and of an ALM fit.  Usage:

    python bench/bench_function.py                 # CPU, 1 thread, batch 64, 25 points
    python bench/bench_function.py --steps 100 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from mlcog.cognitive.function import ALM, GPRegression
from mlcog.models.function_learner import FunctionLearner, FunctionLearnerConfig
from mlcog.tasks.function import GPConfig, LucasConfig, make_function_prior
from mlcog.train.function import episode_loss

SIZES = {"ermi (6x256)": FunctionLearnerConfig(),
         "zoo (4x128)": FunctionLearnerConfig(n_layers=4, d_ff=128, dropout=0.0)}


def train_rate(prior_name: str, model_cfg: FunctionLearnerConfig, steps: int, batch: int, points: int) -> float:
    torch.manual_seed(0)
    prior = make_function_prior(prior_name, n_points=points, lucas=LucasConfig(), gp=GPConfig(kernel="mixture"))
    model = FunctionLearner(model_cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    gen = torch.Generator().manual_seed(0)

    def step():
        loss, _ = episode_loss(model, prior.sample(batch, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):  # warm-up
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--points", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for prior in ("lucas", "gp"):
        for size, cfg in SIZES.items():
            rate = train_rate(prior, cfg, args.steps, args.batch_size, args.points)
            results[f"train {prior} {size}"] = {"steps_per_s": round(rate, 2),
                                                "tasks_per_s": round(rate * args.batch_size, 1)}
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, 20)
    y = np.sin(4 * x) + 0.05 * rng.standard_normal(20)
    for kernel in ("rbf", "rbf+linear"):
        t = time.perf_counter()
        for _ in range(10):
            GPRegression(kernel).fit(x, y)
        results[f"gp-{kernel} fit (20 points)"] = {"ms": round(100 * (time.perf_counter() - t), 1)}
    t = time.perf_counter()
    for _ in range(10):
        ALM(input_range=(-0.5, 0.5), output_range=(-1.5, 1.5)).fit(x, y)
    results["alm fit (20 points, 20 epochs)"] = {"ms": round(100 * (time.perf_counter() - t), 1)}
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
