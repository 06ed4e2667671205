"""Learners for the benchmark: in-context meta-learners, standard baselines, and any scikit-learn classifier.

A :class:`Learner` is a name, a factory ``make(seed) -> unfitted estimator`` (any object with ``fit``,
``predict`` and ``predict_proba``), a ``supports(n_features, n_classes)`` check that returns ``None`` or the
reason the learner cannot take the task (reported as "n/a"), and an optional search space for tuning.

Baseline defaults: scale-sensitive learners (logistic regression, SVM, kNN) standardise their inputs first
(ERMI's original baselines ran unscaled on [0, 1] features with ``C = 1``, which over-regularises logistic
regression); otherwise scikit-learn's defaults, with two changes for small training sets: logistic
regression gets ``max_iter=2000`` so it converges, and histogram gradient boosting ``min_samples_leaf=5``
(the default 20 cannot split a 30-row context, leaving it at chance).  The SVM's probabilities come from
Platt scaling on internal cross-validation, as ``SVC(probability=True)`` did before scikit-learn 1.9
deprecated it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterSampler, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mlcog.models.checkpoint import CheckpointError, read_metadata
from mlcog.models.zoo import resolve, tabular_zoo_names, zoo_names


def _any_task(n_features: int, n_classes: int) -> str | None:
    return None


@dataclass(frozen=True)
class Learner:
    name: str
    make: Callable[[int], BaseEstimator]  # seed -> a fresh, unfitted estimator
    supports: Callable[[int, int], str | None] = _any_task
    search_space: dict = field(default_factory=dict)  # parameter -> list or scipy distribution


# --------------------------------------------------------------------------------------------- baselines
class PlattSVC(ClassifierMixin, BaseEstimator):
    """Standardised RBF SVM with Platt-scaled probabilities (what ``SVC(probability=True)`` computed).

    The sigmoid is fitted on out-of-fold decision values with up to 5 stratified folds (fewer when a class
    is smaller), then the SVM is refitted on all rows (``CalibratedClassifierCV(ensemble=False)``).
    """

    def __init__(self, C: float = 1.0, gamma: str | float = "scale", random_state: int | None = None) -> None:
        self.C = C
        self.gamma = gamma
        self.random_state = random_state

    def fit(self, X, y) -> PlattSVC:
        from sklearn.calibration import CalibratedClassifierCV

        y = np.asarray(y)
        folds = min(5, int(np.bincount(np.unique(y, return_inverse=True)[1]).min()))
        if folds < 2:
            raise ValueError("PlattSVC needs at least 2 rows of every class to calibrate probabilities")
        svm = make_pipeline(StandardScaler(), SVC(C=self.C, gamma=self.gamma))
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        self.model_ = CalibratedClassifierCV(svm, method="sigmoid", cv=cv, ensemble=False).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.model_.predict(X)


def _xgboost(seed: int) -> BaseEstimator:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=100, tree_method="hist", n_jobs=1, random_state=seed, verbosity=0)


def xgboost_available() -> bool:
    try:
        import xgboost  # noqa: F401
    except ImportError:
        return False
    return True


BASELINES: dict[str, Learner] = {
    "logreg": Learner("logreg", lambda s: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
                      search_space={"logisticregression__C": loguniform(1e-3, 1e3)}),
    "svm": Learner("svm", lambda s: PlattSVC(random_state=s),
                   search_space={"C": loguniform(1e-2, 1e3), "gamma": loguniform(1e-4, 1e1)}),
    "knn": Learner("knn", lambda s: make_pipeline(StandardScaler(), KNeighborsClassifier()),
                   search_space={"kneighborsclassifier__n_neighbors": randint(1, 16),
                                 "kneighborsclassifier__weights": ["uniform", "distance"]}),
    "rf": Learner("rf", lambda s: RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=s),
                  search_space={"max_features": uniform(0.1, 0.9), "min_samples_leaf": randint(1, 10),
                                "max_depth": [None, 3, 5, 10]}),
    "hgb": Learner("hgb", lambda s: HistGradientBoostingClassifier(min_samples_leaf=5, random_state=s),
                   search_space={"learning_rate": loguniform(0.01, 0.5), "max_leaf_nodes": randint(4, 64),
                                 "min_samples_leaf": randint(1, 30),
                                 "l2_regularization": loguniform(1e-6, 10)}),
    "xgboost": Learner("xgboost", _xgboost,
                       search_space={"learning_rate": loguniform(0.01, 0.5), "max_depth": randint(2, 10),
                                     "subsample": uniform(0.5, 0.5), "colsample_bytree": uniform(0.5, 0.5)}),
}
DEFAULT_BASELINES = ("logreg", "svm", "knn", "rf", "hgb", "xgboost")  # xgboost only when importable


def default_baselines() -> list[str]:
    return [b for b in DEFAULT_BASELINES if b != "xgboost" or xgboost_available()]


# --------------------------------------------------------------------------------------- in-context models
def checkpoint_config(model: str | Path) -> dict:
    """The model config stored in a zoo model's or checkpoint's metadata (no weights loaded)."""
    return read_metadata(resolve(model))["model_config"]


def icl_learner(model: str | Path, *, beta: float = 1.0, n_permutations: int = 4, name: str | None = None
                ) -> Learner:
    """The in-context classifier on a zoo model or checkpoint; "n/a" where the task's shape differs.

    A category checkpoint takes ``n_features`` features and (unless its config says otherwise) two classes
    (:class:`InContextClassifier`); a tabular PFN takes up to ``max_features`` features and 2 to
    ``max_classes`` classes (:class:`PFNClassifier`, ``n_permutations`` ensemble members).
    """
    from mlcog.models.classifier import InContextClassifier, PFNClassifier
    from mlcog.models.tabular_pfn import is_tabular_pfn

    label = name or (str(model) if str(model) in zoo_names() + tabular_zoo_names() else Path(model).stem)
    config = checkpoint_config(model)
    if is_tabular_pfn(resolve(model)):
        max_f, max_k = int(config["max_features"]), int(config["max_classes"])

        def supports_pfn(n_features: int, n_classes: int) -> str | None:
            if n_features > max_f or not 2 <= n_classes <= max_k:
                return (f"checkpoint takes <= {max_f} features and 2..{max_k} classes, task has {n_features} "
                        f"and {n_classes}")
            return None

        def make_pfn(seed: int) -> BaseEstimator:
            return PFNClassifier(str(model), n_ensemble=n_permutations, random_state=seed)

        return Learner(label, make_pfn, supports_pfn)
    want_f, want_k = int(config["n_features"]), int(config.get("n_classes", 2))

    def supports(n_features: int, n_classes: int) -> str | None:
        if n_classes != want_k or n_features != want_f:
            return (f"checkpoint takes {want_f} features and {want_k} classes, task has {n_features} and "
                    f"{n_classes}")
        return None

    def make(seed: int) -> BaseEstimator:
        return InContextClassifier(str(model), beta=beta, n_permutations=n_permutations, random_state=seed)

    return Learner(label, make, supports)


def sklearn_learner(estimator: BaseEstimator, name: str | None = None) -> Learner:
    """Wrap any scikit-learn style classifier (it needs ``predict_proba``); each run gets a fresh clone."""
    if not all(hasattr(estimator, m) for m in ("fit", "predict", "predict_proba")):
        raise TypeError(f"{type(estimator).__name__} is not a probabilistic classifier: it needs fit, "
                        "predict and predict_proba")

    def make(seed: int) -> BaseEstimator:
        est = clone(estimator)
        if "random_state" in est.get_params() and est.get_params()["random_state"] is None:
            est.set_params(random_state=seed)
        return est

    return Learner(name or type(estimator).__name__, make)


def as_learner(spec: str | Path | Learner | BaseEstimator) -> Learner:
    """A :class:`Learner` from a baseline name, a zoo name or checkpoint path, an estimator, or a Learner."""
    if isinstance(spec, Learner):
        return spec
    if not isinstance(spec, str | Path):
        return sklearn_learner(spec)
    text = str(spec)
    if text in BASELINES:
        if text == "xgboost" and not xgboost_available():
            raise ValueError("learner 'xgboost' needs the optional package xgboost (pip install xgboost)")
        return BASELINES[text]
    try:
        return icl_learner(text)
    except CheckpointError as exc:
        raise ValueError(f"unknown learner {text!r}: not a baseline ({', '.join(BASELINES)}) and "
                         f"{exc}") from exc


def resolve_learners(specs: Sequence) -> list[Learner]:
    learners = [as_learner(s) for s in specs]
    names = [lr.name for lr in learners]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"learner names must be unique, repeated: {dupes} (rename with Learner(name=...))")
    if not learners:
        raise ValueError("no learners given")
    return learners


# ------------------------------------------------------------------------------------------ timed search
class TimedSearch(ClassifierMixin, BaseEstimator):
    """Random search under a wall-clock budget, scored by stratified cross-validation, then a refit.

    The default configuration is scored first, so a tiny budget returns the defaults; further random
    configurations are tried while time is left (the last one may overrun the budget by its own cost).
    Configurations that fail to fit (e.g. more neighbours than rows) score ``-inf`` and are counted.
    """

    def __init__(self, estimator: BaseEstimator, param_distributions: dict, budget_s: float = 5.0,
                 scoring: str = "accuracy", cv: int = 3, random_state: int = 0) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.budget_s = budget_s
        self.scoring = scoring
        self.cv = cv
        self.random_state = random_state

    def _score(self, params: dict, X, y, cv) -> float:
        try:
            est = clone(self.estimator).set_params(**params)
            scores = cross_val_score(est, X, y, cv=cv, scoring=self.scoring, error_score="raise")
            return float(np.mean(scores))
        except (ValueError, np.linalg.LinAlgError):
            self.n_failed_ += 1
            return -np.inf

    def fit(self, X, y) -> TimedSearch:
        start = time.perf_counter()
        y = np.asarray(y)
        folds = min(self.cv, int(np.bincount(np.unique(y, return_inverse=True)[1]).min()))
        self.n_failed_ = 0
        self.best_params_, self.best_score_, self.n_evaluated_ = {}, -np.inf, 0
        if folds >= 2 and self.param_distributions:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            candidates = ParameterSampler(self.param_distributions, n_iter=10_000,
                                          random_state=self.random_state)
            for params in itertools.chain([{}], candidates):  # lazily: stop drawing when time is up
                score = self._score(params, X, y, cv)
                self.n_evaluated_ += 1
                if score > self.best_score_:
                    self.best_params_, self.best_score_ = params, score
                if time.perf_counter() - start > self.budget_s:
                    break
        self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y)
        self.classes_ = self.best_estimator_.classes_
        return self

    def predict(self, X):
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        return self.best_estimator_.predict_proba(X)


def build_estimator(learner: Learner, seed: int, tune_budget_s: float | None = None,
                    scoring: str = "accuracy") -> BaseEstimator:
    """The learner's estimator, in a :class:`TimedSearch` when a budget is given and it has a search space."""
    est = learner.make(seed)
    if tune_budget_s and learner.search_space:
        return TimedSearch(est, learner.search_space, tune_budget_s, scoring=scoring, random_state=seed)
    return est
