"""Prediction time of the in-context classifier: 1,000 labelled context rows, 1,000 query rows, on CPU.

``fit`` only stores the context; ``predict_proba`` runs one forward pass per context ordering over the
context followed by all queries (queries attend to the context and to themselves only).  Prints the median
wall time over repeats for ``fit`` and for ``predict_proba``, per context ordering and in total.  Usage:

    python bench/bench_icl_predict.py                       # zoo mi-dim4 if present, else an untrained model
    python bench/bench_icl_predict.py --model pfn-dim4 --threads 2 --n-permutations 4
    python bench/bench_icl_predict.py --model tabpfn-scm --n-features 20 --n-classes 10   # the tabular PFN

For a tabular PFN (:class:`~mlcog.models.classifier.PFNClassifier`) ``--n-permutations`` is the ensemble
size and the data have ``--n-features`` features and ``--n-classes`` classes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mlcog.models import MetaLearnerConfig, build_model, save_model, zoo_names
from mlcog.models.classifier import InContextClassifier, PFNClassifier
from mlcog.models.tabular_pfn import is_tabular_pfn
from mlcog.models.zoo import resolve


def resolve_model(name: str | None, n_features: int, tmp: Path) -> str:
    """The requested model, else the first zoo model with ``n_features`` features, else an untrained one of
    the zoo's size (timing does not depend on the weights)."""
    if name:
        return name
    for candidate in ("mi-dim4", "pfn-dim4", "rmc-dim4", "ermi-dim4"):
        if candidate in zoo_names() and n_features == 4:
            return candidate
    config = MetaLearnerConfig(n_features=n_features, d_model=64, n_heads=4, n_layers=3, d_ff=128,
                               dropout=0.0, positional="none")
    path = tmp / "untrained.safetensors"
    save_model(path, build_model(config))
    return str(path)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="zoo name or checkpoint (default: mi-dim4 or untrained)")
    ap.add_argument("--n-context", type=int, default=1000)
    ap.add_argument("--n-query", type=int, default=1000)
    ap.add_argument("--n-features", type=int, default=4, help="only used to pick/build the default model")
    ap.add_argument("--n-classes", type=int, default=2, help="classes (tabular PFN only)")
    ap.add_argument("--n-permutations", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_model(args.model, args.n_features, Path(tmp))
        rng = np.random.default_rng(0)
        if is_tabular_pfn(resolve(model)):
            clf, d = PFNClassifier(model, n_ensemble=args.n_permutations), args.n_features
            X, Q = rng.normal(size=(args.n_context, d)), rng.normal(size=(args.n_query, d))
            y = np.arange(args.n_context) % args.n_classes
        else:
            clf = InContextClassifier(model, n_permutations=args.n_permutations)
            d = int(clf.fit(np.zeros((2, args.n_features)), [0, 1]).model_.config.n_features)
            X, Q = rng.random((args.n_context, d)), rng.random((args.n_query, d))
            y = (X.sum(1) > d / 2).astype(int)
        clf.fit(X, y).predict_proba(Q[:10])  # warm-up: first call pays for lazy initialisation
        fit_s = median_time(lambda: clf.fit(X, y), args.repeats)
        predict_s = median_time(lambda: clf.predict_proba(Q), args.repeats)
    print(json.dumps({"model": args.model or Path(model).stem, "n_context": args.n_context,
                      "n_query": args.n_query, "n_features": d, "n_permutations": args.n_permutations,
                      "threads": args.threads,
                      "fit_s": round(fit_s, 4), "predict_proba_s": round(predict_s, 4),
                      "predict_s_per_ordering": round(predict_s / args.n_permutations, 4)}))


if __name__ == "__main__":
    main()
