"""Training throughput of BIML at the paper's size and batch (and of a CPU recipe), with the time the full
recipe (50 epochs x 4,000 steps = 200,000 steps) would take at the measured rate.

Runs the real training step: draw 25 random-grammar episodes (``algebraic+biases``: 14 copy + 10
generalisation queries each = 600 sequences), forward, token cross-entropy, backward, AdamW.  Episode
generation is timed separately (it is the data pipeline, and it is single-threaded Python).  Usage:

    python bench/bench_biml.py                      # paper size on CPU, 3 timed steps, 1 thread
    python bench/bench_biml.py --threads 2 --steps 5
    python bench/bench_biml.py --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from mlcog.models.seq2seq import Seq2SeqConfig, Seq2SeqTransformer
from mlcog.train.biml import BimlTrainConfig, _Batches, sequence_loss

CPU_RECIPE = dict(batch_size=8, query_subsample=8,
                  model=Seq2SeqConfig(d_model=64, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=256))


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(cfg: BimlTrainConfig, n_steps: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = Seq2SeqTransformer(cfg.model).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            weight_decay=cfg.weight_decay)
    batches = _Batches(cfg, frozenset())
    t = time.perf_counter()
    data = [batches.next() for _ in range(n_steps + 1)]
    gen_s = (time.perf_counter() - t) / (n_steps + 1)

    def step(b):
        src, dec_in, dec_out = (x.to(device) for x in b)
        loss, _ = sequence_loss(model, src, dec_in, dec_out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(data[0])  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for b in data[1:]:
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - t) / n_steps
    total_s = step_s + gen_s
    return {"params": model.n_params(), "sequences_per_batch": int(data[0][0].shape[0]),
            "mean_source_len": float((data[0][0] != 18).sum(1).float().mean()),
            "step_s": round(step_s, 3), "episode_gen_s_per_batch": round(gen_s, 3),
            "steps_per_s": round(1 / total_s, 4), "full_recipe_hours": round(200_000 * total_s / 3600, 1),
            "peak_memory_mb": round(peak_memory_mb(device))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--skip-cpu-recipe", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.steps} timed steps")
    print("paper size (3+3 layers, d 128, 8 heads, FFN 512; 25 episodes x 24 queries):")
    print(json.dumps(bench(BimlTrainConfig(), args.steps, device)))
    if not args.skip_cpu_recipe:
        print("CPU recipe (2+2 layers, d 64, 4 heads, FFN 256; 8 episodes x 8 queries):")
        print(json.dumps(bench(BimlTrainConfig(**CPU_RECIPE), max(args.steps, 10), device)))


if __name__ == "__main__":
    main()
