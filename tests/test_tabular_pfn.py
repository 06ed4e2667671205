"""The SCM prior, the tabular PFN, its training loop and its scikit-learn classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs

from mlcog.models.tabular_pfn import TabularPFN, TabularPFNConfig, load_tabular_pfn, prepare_features
from mlcog.tasks.tabular import TabularPriorConfig, sample_batch, sample_task
from mlcog.train.common import read_metrics
from mlcog.train.tabular import TabularTrainConfig, train_tabular

SMALL_PRIOR = TabularPriorConfig(max_features=8, max_classes=4, min_rows=32, max_rows=64, tokens_per_batch=512)
SMALL_MODEL = TabularPFNConfig(max_features=8, max_classes=4, d_model=32, n_heads=4, n_layers=2, d_ff=64)


def test_prior_batch_invariants():
    rng = np.random.default_rng(0)
    for _ in range(10):
        b = sample_batch(SMALL_PRIOR, rng)
        B, N, F = b.x.shape
        assert F == 8 and 32 <= N <= 64 and B == 512 // N
        assert SMALL_PRIOR.min_train_rows <= b.n_train < N
        assert ((b.n_classes >= 2) & (b.n_classes <= 4)).all()
        assert ((b.n_features >= 1) & (b.n_features <= 8)).all()
        assert (b.y < b.n_classes[:, None]).all() and (b.y >= 0).all()
        for i in range(B):  # features beyond the task's count are padding
            assert (b.x[i, :, b.n_features[i]:] == 0).all()
            assert torch.isfinite(b.x[i]).all()


def test_prior_classes_present_and_feature_kinds():
    cfg = TabularPriorConfig(p_categorical_task=1.0, max_categorical_frac=1.0)
    rng = np.random.default_rng(1)
    n_categorical = 0
    for _ in range(20):
        x, y = sample_task(cfg, rng, n_rows=400, n_features=6, n_classes=5)
        assert x.shape == (400, 6)
        assert len(np.unique(y)) == 5  # cuts at quantiles: every class gets rows
        n_categorical += sum(len(np.unique(col)) <= 10 for col in x.T)
    assert n_categorical > 0  # some binned, integer-coded features appear


def test_prepare_features_uses_context_statistics_only():
    x = torch.randn(2, 20, 5) * 3 + 7
    n_feat = torch.tensor([5, 2])
    z = prepare_features(x, 12, n_feat)
    assert torch.allclose(z[0, :12].mean(0), torch.zeros(5), atol=1e-5)
    assert (z[1, :, 2:] == 0).all()  # unused features stay zero
    x2 = x.clone()
    x2[:, 12:] += 100.0  # queries must not move the context's standardisation
    assert torch.equal(prepare_features(x2, 12, n_feat)[:, :12], z[:, :12])


def test_queries_are_independent_and_context_order_free():
    torch.manual_seed(0)
    model = TabularPFN(SMALL_MODEL).eval()
    x = torch.randn(1, 30, 8)
    y = torch.randint(0, 3, (1, 20))
    nf, nk = torch.tensor([8]), torch.tensor([3])
    base = model(x, y, nf, nk)
    x2 = x.clone()
    x2[0, 25] = 50.0  # change one query row
    other = model(x2, y, nf, nk)
    keep = [i for i in range(10) if i != 5]
    assert torch.allclose(base[0, keep], other[0, keep], atol=1e-5)
    assert not torch.allclose(base[0, 5], other[0, 5])
    perm = torch.randperm(20)
    x3 = torch.cat([x[:, perm], x[:, 20:]], dim=1)
    assert torch.allclose(model(x3, y[:, perm], nf, nk), base, atol=1e-5)
    assert torch.isinf(base[..., 3]).all()  # a class the task does not have is impossible


def test_model_rejects_bad_inputs():
    model = TabularPFN(SMALL_MODEL)
    with pytest.raises(ValueError, match="feature columns"):
        model(torch.randn(1, 10, 5), torch.zeros(1, 5, dtype=torch.long), torch.tensor([5]), torch.tensor([2]))
    with pytest.raises(ValueError, match="class codes"):
        model(torch.randn(1, 10, 8), torch.full((1, 5), 3), torch.tensor([8]), torch.tensor([2]))


def _cfg(steps: int, **kw) -> TabularTrainConfig:
    return TabularTrainConfig(steps=steps, lr=3e-3, warmup_steps=10, eval_every=20, eval_batches=4,
                              checkpoint_every=10, log_every=5, device="cpu", prior=SMALL_PRIOR,
                              model=SMALL_MODEL, **kw)


class Crash(Exception):
    pass


def test_training_learns_and_resumes_exactly_after_a_crash(tmp_path, monkeypatch):
    from mlcog.train import tabular

    full = train_tabular(_cfg(60), tmp_path / "full", progress=False)
    first = read_metrics(tmp_path / "full")[0]
    assert full["val_loss"] < first["train_loss"]  # it learns

    real, calls = tabular.sample_batch, {"n": 0}

    def crash_at_step_26(cfg, rng):
        calls["n"] += 1
        if calls["n"] == 4 + 26:  # 4 validation batches first; dies starting step 26, last checkpoint 20
            raise Crash
        return real(cfg, rng)

    monkeypatch.setattr(tabular, "sample_batch", crash_at_step_26)
    with pytest.raises(Crash):
        train_tabular(_cfg(60), tmp_path / "crashed", progress=False)
    monkeypatch.undo()
    resumed = train_tabular(_cfg(60), tmp_path / "crashed", resume=True, progress=False)
    assert resumed["val_loss"] == pytest.approx(full["val_loss"], abs=1e-6)
    a = load_tabular_pfn(tmp_path / "full" / "model.safetensors").state_dict()
    b = load_tabular_pfn(tmp_path / "crashed" / "model.safetensors").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_config_mismatch_is_an_error():
    with pytest.raises(ValueError, match="prior and model disagree"):
        TabularTrainConfig(prior=SMALL_PRIOR, model=TabularPFNConfig())


# ----------------------------------------------------------------------------------- the bundled checkpoint
def test_zoo_pfn_classifies_multiclass_blobs():
    from mlcog.models.classifier import PFNClassifier

    X, y = make_blobs(n_samples=300, centers=4, n_features=10, cluster_std=2.0, random_state=0)
    y = np.array(["a", "b", "c", "d"])[y]
    clf = PFNClassifier("tabpfn-scm", n_ensemble=2).fit(X[:150], y[:150])
    proba = clf.predict_proba(X[150:])
    assert proba.shape == (150, 4) and np.allclose(proba.sum(1), 1)
    assert (clf.predict(X[150:]) == y[150:]).mean() > 0.9
    assert set(clf.predict(X[150:])) <= set(clf.classes_)
    assert clone(clf).get_params() == clf.get_params()


def test_pfn_classifier_errors():
    from mlcog.models.classifier import PFNClassifier

    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match="classes"):
        PFNClassifier("tabpfn-scm").fit(X, np.arange(40) % 11)
    with pytest.raises(ValueError, match="at most 100 features"):
        PFNClassifier("tabpfn-scm").fit(np.zeros((40, 101)), np.arange(40) % 2)
    with pytest.raises(Exception, match="not a tabular PFN"):
        PFNClassifier("mi-dim3").fit(X, np.arange(40) % 2)


def test_benchmark_learner_takes_the_pfn():
    from mlcog.benchmark.learners import as_learner

    learner = as_learner("tabpfn-scm")
    assert learner.supports(30, 10) is None
    assert "classes" in learner.supports(30, 11)
    assert learner.supports(101, 2) is not None
