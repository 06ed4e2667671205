"""A scikit-learn classifier whose "training" is storing the context for a meta-learned in-context learner."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from mlcog.models.zoo import load_model


class InContextClassifier(ClassifierMixin, BaseEstimator):
    """Binary classification by a meta-learner conditioned on the training set.

    ``fit`` only validates and stores the labelled context; ``predict_proba`` shows the network the context
    followed by each query point (all queries in one forward pass) and reads out p(class 1).

    Parameters
    ----------
    model : str, default="mi-dim3"
        Zoo name or checkpoint path.  The data must have as many features as the model was trained on.
    beta : float, default=1.0
        Inverse temperature applied to the network's logits.
    n_permutations : int, default=4
        Context orderings averaged over; the network reads the context in order, so averaging over random
        orders removes the dependence on the arbitrary row order of ``X``.
    random_state : int, default=0
        Seed for the context orderings.
    scale : {"minmax", "none"}, default="minmax"
        Map each feature to [0, 1] using the context's range, the scale the zoo models were trained on.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    X_, y_ : the scaled context and its labels encoded as 0/1.
    model_ : the loaded meta-learner.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=60, n_features=3, n_redundant=0, random_state=0)
    >>> clf = InContextClassifier("mi-dim3").fit(X[:30], y[:30])
    >>> clf.predict(X[30:]).shape
    (30,)
    """

    def __init__(self, model: str = "mi-dim3", *, beta: float = 1.0, n_permutations: int = 4,
                 random_state: int = 0, scale: str = "minmax") -> None:
        self.model = model
        self.beta = beta
        self.n_permutations = n_permutations
        self.random_state = random_state
        self.scale = scale

    def fit(self, X, y) -> InContextClassifier:
        if self.scale not in ("minmax", "none"):
            raise ValueError(f"scale must be 'minmax' or 'none', got {self.scale!r}")
        if self.n_permutations < 1:
            raise ValueError(f"n_permutations must be >= 1, got {self.n_permutations}")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=True)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"InContextClassifier needs class labels, got target type {kind!r}")
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) != 2:
            raise ValueError(f"InContextClassifier is a binary classifier: y has {len(self.classes_)} "
                             f"class(es) {self.classes_.tolist()}, expected exactly 2")
        self.model_ = load_model(self.model)
        expected = self.model_.config.n_features
        if X.shape[1] != expected:
            raise ValueError(f"model {self.model!r} takes {expected} features, X has {X.shape[1]}; select "
                             f"{expected} features first (e.g. sklearn's SelectKBest) or use another model")
        self.min_, self.span_ = X.min(0), np.where(np.ptp(X, 0) > 0, np.ptp(X, 0), 1.0)
        self.X_, self.y_ = self._scaled(X), y_enc.astype(np.float32)
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if self.scale == "none":
            return X.astype(np.float32)
        # Query points outside the context's range are clipped: the network never saw values beyond [0, 1].
        return np.clip((X - self.min_) / self.span_, 0.0, 1.0).astype(np.float32)

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False, ensure_all_finite=True)
        q = torch.from_numpy(self._scaled(X))[None]
        rng = np.random.default_rng(self.random_state)
        logits = torch.zeros(len(X), dtype=torch.float64)
        for _ in range(self.n_permutations):
            order = rng.permutation(len(self.X_))
            cx, cy = torch.from_numpy(self.X_[order])[None], torch.from_numpy(self.y_[order])[None]
            logits += self.model_.query_logits(cx, cy, q)[0].double()
        p1 = torch.sigmoid(self.beta * logits / self.n_permutations).numpy()
        return np.column_stack([1 - p1, p1])

    def predict(self, X) -> np.ndarray:
        p1 = self.predict_proba(X)[:, 1]  # checks fitted-ness before classes_ is touched
        return self.classes_[(p1 > 0.5).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class PFNClassifier(ClassifierMixin, BaseEstimator):
    """Multi-class classification by a tabular prior-fitted network conditioned on the training set.

    Up to the checkpoint's ``max_features`` features and ``max_classes`` classes (the bundled ``tabpfn-scm``:
    100 and 10), any number of rows (the network was trained with up to 1,000).  ``fit`` validates and stores
    the context; ``predict_proba`` scores all queries in one pass per ensemble member.  As in TabPFN, the
    ensemble averages over members that permute the feature columns and the class codes (the network's
    embeddings are not invariant to either) and alternate two input transforms: plain standardisation and a
    quantile transform to a normal distribution (robust to skewed or heavy-tailed features), both fitted on
    the context.

    Parameters
    ----------
    model : str, default="tabpfn-scm"
        Zoo name or path of a tabular PFN checkpoint.
    n_ensemble : int, default=4
    random_state : int, default=0
    query_chunk : int, default=2048
        Queries scored per forward pass (queries never attend to each other, so chunking changes nothing).
    """

    def __init__(self, model: str = "tabpfn-scm", *, n_ensemble: int = 4, random_state: int = 0,
                 query_chunk: int = 2048) -> None:
        self.model = model
        self.n_ensemble = n_ensemble
        self.random_state = random_state
        self.query_chunk = query_chunk

    def fit(self, X, y) -> PFNClassifier:
        from mlcog.models.tabular_pfn import load_tabular_pfn
        from mlcog.models.zoo import resolve

        if self.n_ensemble < 1:
            raise ValueError(f"n_ensemble must be >= 1, got {self.n_ensemble}")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=True)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"PFNClassifier needs class labels, got target type {kind!r}")
        self.model_ = load_tabular_pfn(resolve(self.model))
        cfg = self.model_.config
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if not 2 <= len(self.classes_) <= cfg.max_classes:
            raise ValueError(f"model {self.model!r} takes 2..{cfg.max_classes} classes, y has "
                             f"{len(self.classes_)}")
        if X.shape[1] > cfg.max_features:
            raise ValueError(f"model {self.model!r} takes at most {cfg.max_features} features, X has "
                             f"{X.shape[1]}; select features first (e.g. sklearn's SelectKBest)")
        self.X_, self.y_ = X, y_enc
        return self

    def _member_inputs(self, member: int, rng: np.random.Generator, Xq: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.preprocessing import QuantileTransformer

        n_feat, k = self.X_.shape[1], len(self.classes_)
        cols, class_perm = rng.permutation(n_feat), rng.permutation(k)
        ctx, qry = self.X_[:, cols], Xq[:, cols]
        if member % 2 == 1:  # every other member: a quantile transform, fitted on the context only
            qt = QuantileTransformer(n_quantiles=min(1000, len(ctx)), output_distribution="normal",
                                     random_state=self.random_state).fit(ctx)
            ctx, qry = qt.transform(ctx), qt.transform(qry)
        return ctx, qry, class_perm[self.y_], class_perm

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False, ensure_all_finite=True)
        cfg, k = self.model_.config, len(self.classes_)
        rng = np.random.default_rng(self.random_state)
        proba = np.zeros((len(X), k))
        for member in range(self.n_ensemble):
            ctx, qry, y_ctx, class_perm = self._member_inputs(member, rng, X)
            pad = np.zeros((len(ctx) + len(qry), cfg.max_features), dtype=np.float32)
            pad[:, : ctx.shape[1]] = np.concatenate([ctx, qry])
            n_feat, n_cls = torch.tensor([ctx.shape[1]]), torch.tensor([k])
            y_t = torch.from_numpy(y_ctx)[None]
            with torch.inference_mode():
                for s in range(0, len(qry), self.query_chunk):
                    rows = np.r_[0: len(ctx), len(ctx) + s: len(ctx) + min(len(qry), s + self.query_chunk)]
                    logits = self.model_(torch.from_numpy(pad[rows])[None], y_t, n_feat, n_cls)[0, :, :k]
                    # column j of the permuted problem is original class class_perm^-1(j)
                    proba[s: s + self.query_chunk] += torch.softmax(logits.double(), -1).numpy()[:, class_perm]
        return proba / self.n_ensemble

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
