"""Run a protocol over data sets and learners; collect per-task scores, timings and the summary tables."""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, roc_auc_score

from mlcog.benchmark.datasets import Dataset, load_datasets
from mlcog.benchmark.learners import (
    Learner,
    build_estimator,
    checkpoint_config,
    default_baselines,
    resolve_learners,
)
from mlcog.benchmark.protocols import ErmiProtocol, SkipDataset, Split, TabpfnProtocol, make_protocol
from mlcog.benchmark.ranking import RankSummary, mean_ranks
from mlcog.models.zoo import tabular_zoo_names, zoo_names


@dataclass
class BenchmarkResult:
    protocol: str
    settings: dict
    datasets: pd.DataFrame  # one row per data set: size, what preparation changed, skipped and why
    tasks: pd.DataFrame  # one row per (data set, split, learner): accuracy, auc, fit_s, predict_s
    per_dataset: pd.DataFrame  # one row per (data set, learner): means over splits, status ok / n/a / failed
    summary: pd.DataFrame  # one row per learner: means over data sets, mean rank, timing
    ranks: RankSummary | None  # over the learners with a score on every data set
    subset_ranks: RankSummary | None = None  # all learners, on the data sets every learner supports
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> str:
        return make_protocol(self.protocol).primary

    def wide(self, metric: str) -> pd.DataFrame:
        """Data sets x learners table of ``metric`` ("accuracy" or "auc"); NaN where n/a or failed."""
        return self.per_dataset.pivot(index="dataset", columns="learner", values=metric)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        from mlcog.benchmark.output import write_outputs

        return write_outputs(self, out_dir)


# -------------------------------------------------------------------------------------------------- metrics
def score_task(y_true: np.ndarray, pred: np.ndarray, proba: np.ndarray, n_classes: int
               ) -> tuple[float, float]:
    """Accuracy and ROC AUC (binary, or one-vs-one over the classes present in the test rows)."""
    acc = float(accuracy_score(y_true, pred))
    present = np.unique(y_true)
    if len(present) < 2:
        return acc, np.nan
    if n_classes == 2:
        return acc, float(roc_auc_score(y_true, proba[:, 1]))
    p = proba[:, present]
    p = p / np.clip(p.sum(1, keepdims=True), 1e-12, None)  # renormalise: a class may be absent from the test
    if len(present) == 2:
        return acc, float(roc_auc_score(y_true == present[1], p[:, 1]))
    return acc, float(roc_auc_score(y_true, p, multi_class="ovo", labels=present))


def _aligned_proba(est, X: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class code 0..k-1 (zeros for classes unseen in training)."""
    proba = np.asarray(est.predict_proba(X), dtype=np.float64)
    out = np.zeros((len(X), n_classes))
    out[:, np.asarray(est.classes_, dtype=np.int64)] = proba
    return out


def run_learner(learner: Learner, X: np.ndarray, y: np.ndarray, splits: list[Split], n_classes: int,
                protocol, seed: int, tune_budget_s: float | None) -> list[dict]:
    rows = []
    scoring = "accuracy" if protocol.primary == "accuracy" else "roc_auc_ovo"
    for i, sp in enumerate(splits):
        Xtr, Xte = protocol.preprocess(X[sp.train], X[sp.test])
        est = build_estimator(learner, seed + i, tune_budget_s, scoring)
        with warnings.catch_warnings():
            # Tiny contexts make iterative baselines stop early; the score records the outcome either way.
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(Xtr, y[sp.train])
            t1 = time.perf_counter()
            proba = _aligned_proba(est, Xte, n_classes)
            pred = est.predict(Xte)
            t2 = time.perf_counter()
        acc, auc = score_task(y[sp.test], pred, proba, n_classes)
        rows.append({"split": i, "accuracy": acc, "auc": auc, "fit_s": t1 - t0, "predict_s": t2 - t1})
    return rows


# --------------------------------------------------------------------------------------------- the runner
def default_learners(protocol: str) -> list[str]:
    """Baselines plus the zoo models that fit the protocol (ERMI: those taking its number of features)."""
    models = zoo_names()
    if protocol == "ermi":
        models = [m for m in models if int(checkpoint_config(m)["n_features"]) == ErmiProtocol().n_features]
    return [*default_baselines(), *models, *tabular_zoo_names()]


def run_benchmark(protocol: str = "ermi", datasets_dir: str | Path | None = None,
                  learners: Sequence | None = None, seed: int = 0, out_dir: str | Path | None = None, *,
                  settings: dict | None = None, tune_budget_s: float | None = None,
                  datasets: Sequence[str] | None = None, progress: Callable[[str], None] | None = None
                  ) -> BenchmarkResult:
    """Evaluate ``learners`` on every data set of ``datasets_dir`` under ``protocol`` ("ermi" or "tabpfn").

    Parameters
    ----------
    datasets_dir : directory of .npz / .csv data sets; default the bundled CC18 sets + sklearn's digits.
    learners : baseline names ("logreg", "svm", "knn", "rf", "hgb", "xgboost"), zoo names or checkpoint paths,
        scikit-learn classifiers, or :class:`~mlcog.benchmark.learners.Learner` objects; default
        :func:`default_learners`.
    settings : protocol overrides, e.g. ``{"n_sets": 5}`` for a quick ERMI run.
    tune_budget_s : if given, each baseline runs a random search of this many seconds per fit.
    datasets : only the data sets with these names.
    out_dir : if given, CSVs, the CD plot and an HTML report are written there.
    """
    proto: ErmiProtocol | TabpfnProtocol = make_protocol(protocol, **(settings or {}))
    chosen = resolve_learners(learners if learners is not None else default_learners(protocol))
    collection = load_datasets(datasets_dir)
    data: list[Dataset] = collection.datasets
    if datasets is not None:
        unknown = sorted(set(datasets) - {d.name for d in data})
        if unknown:
            raise ValueError(f"unknown data set(s) {unknown}; available: {[d.name for d in data]}")
        data = [d for d in data if d.name in set(datasets)]
    info, task_rows, status = [], [], []
    for ds in data:
        row = {**ds.describe(), "status": "used", "reason": ""}
        try:
            prep = proto.prepare(ds)
        except SkipDataset as exc:
            info.append({**row, "status": "skipped", "reason": str(exc)})
            continue
        # One generator per data set, seeded by its name, so adding or removing a data set (or selecting a
        # subset) leaves the others' splits unchanged.
        rng = np.random.default_rng([seed, zlib.crc32(ds.name.encode())])
        splits = proto.splits(prep, rng)
        row.update({k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in prep.notes.items()})
        row.update({"task_features": prep.X.shape[1], "task_classes": prep.n_classes, "splits": len(splits),
                    "drawn_with_replacement": any(s.with_replacement for s in splits)})
        info.append(row)
        for lr in chosen:
            reason = lr.supports(prep.X.shape[1], prep.n_classes)
            if reason:
                status.append({"dataset": ds.name, "learner": lr.name, "status": f"n/a: {reason}"})
                continue
            try:
                rows = run_learner(lr, prep.X, prep.y, splits, prep.n_classes, proto, seed, tune_budget_s)
            except Exception as exc:  # one learner failing on one data set must not lose the whole run
                status.append({"dataset": ds.name, "learner": lr.name,
                               "status": f"failed: {type(exc).__name__}: {exc}"})
                continue
            status.append({"dataset": ds.name, "learner": lr.name, "status": "ok"})
            task_rows += [{"dataset": ds.name, "learner": lr.name, **r} for r in rows]
        if progress:
            progress(f"{ds.name}: {len(splits)} splits x {len(chosen)} learners done")
    result = summarise(proto, chosen, pd.DataFrame(info), pd.DataFrame(task_rows), pd.DataFrame(status),
                       notes=collection.notes + [f"ignored file(s): {', '.join(collection.ignored)}"] *
                       bool(collection.ignored))
    result.settings.update({"seed": seed, "tune_budget_s": tune_budget_s,
                            "datasets_dir": str(datasets_dir) if datasets_dir else "bundled CC18 + sklearn"})
    if out_dir is not None:
        result.write(out_dir)
    return result


def summarise(proto, learners: list[Learner], info: pd.DataFrame, tasks: pd.DataFrame, status: pd.DataFrame,
              notes: list[str]) -> BenchmarkResult:
    names = [lr.name for lr in learners]
    cols = ["dataset", "learner", "split", "accuracy", "auc", "fit_s", "predict_s"]
    tasks = tasks if len(tasks) else pd.DataFrame(columns=cols)
    status = status if len(status) else pd.DataFrame(columns=["dataset", "learner", "status"])
    grouped = tasks.groupby(["dataset", "learner"], sort=False)
    means = grouped[["accuracy", "auc", "fit_s", "predict_s"]].mean()
    counts = grouped.size().rename("n_splits").reset_index()
    per = status.merge(means.reset_index(), on=["dataset", "learner"], how="left")
    per = per.merge(counts, on=["dataset", "learner"], how="left")
    per["n_splits"] = per.n_splits.fillna(0).astype(int)
    per = per[["dataset", "learner", "accuracy", "auc", "fit_s", "predict_s", "n_splits", "status"]]

    primary = proto.primary
    wide = per.pivot(index="dataset", columns="learner", values=primary).reindex(columns=names)
    ranks = subset = None
    if len(wide):
        try:
            ranks = mean_ranks(wide)
        except ValueError as exc:
            notes = [*notes, f"no overall ranking: {exc}"]
        if ranks is not None and ranks.excluded:
            shared = wide.dropna()
            if len(shared) and shared.shape[1] >= 2:
                subset = mean_ranks(shared)
    summary = []
    for name in names:
        sel = per[per.learner == name]
        ok = sel[sel.status == "ok"]
        t = tasks[tasks.learner == name]
        summary.append({
            "learner": name, "n_datasets": len(ok), "n_na": int(sel.status.str.startswith("n/a").sum()),
            "n_failed": int(sel.status.str.startswith("failed").sum()),
            "mean_accuracy": ok.accuracy.mean(), "sem_accuracy": ok.accuracy.sem(),
            "mean_auc": ok.auc.mean(), "sem_auc": ok.auc.sem(),
            "mean_rank": ranks.mean_rank.get(name, np.nan) if ranks is not None else np.nan,
            "fit_s_per_task": t.fit_s.mean(), "predict_s_per_task": t.predict_s.mean(),
            "total_s": t.fit_s.sum() + t.predict_s.sum()})
    summary = pd.DataFrame(summary).sort_values(["mean_rank", "learner"], na_position="last", kind="stable")
    return BenchmarkResult(proto.name, proto.settings(), info, tasks, per, summary.reset_index(drop=True),
                           ranks, subset, list(notes))
