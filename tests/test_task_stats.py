"""Task statistics (ERMI's analysis): each statistic on tasks built to have a known answer, and the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_tasks_csv

from mlcog.tasks.stats import (
    StatsConfig,
    _LogReg,
    gini,
    mean_abs_correlation,
    real_tasks,
    run_task_stats,
    task_statistics,
)


def test_gini_bounds():
    assert gini(np.ones(4)) == pytest.approx(0.0)
    assert gini(np.array([0.0, 0.0, 5.0])) == pytest.approx(2 / 3)
    assert 0 < gini(np.array([1.0, 2.0, 3.0])) < 2 / 3


def test_newton_logistic_regression_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x @ [1.0, -2.0, 0.3] + rng.normal(size=200) > 0).astype(float)
    ref = LogisticRegression(C=100.0, max_iter=10_000, tol=1e-10).fit(x, y)
    ours = _LogReg(x, y)
    np.testing.assert_allclose(ours.coef, ref.coef_[0], rtol=1e-3)
    assert ours.intercept == pytest.approx(ref.intercept_[0], abs=1e-3)


def test_statistics_recover_built_in_structure():
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=(n, 3))
    one_feature = (x[:, 0] > 0).astype(float)
    all_features = (x.sum(1) > 0).astype(float)
    xor = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(float)
    s_one, s_all, s_xor = (task_statistics(x, y, rng=np.random.default_rng(0)) for y in
                           (one_feature, all_features, xor))
    assert s_one["gini"] > 0.5 > 0.2 > s_all["gini"]  # sparsity: one feature vs all three
    assert s_all["delta_bic"] < 0 < s_xor["delta_bic"]  # linear model preferred vs interactions needed
    assert s_all["acc_64"] > 0.9 and s_all["acc_64"] > s_all["acc_4"]  # learnable, improving with trials
    assert s_xor["acc_64"] < 0.75  # a linear learner cannot learn XOR
    z = rng.normal(size=n)
    correlated = np.column_stack([z, z + 0.01 * rng.normal(size=n), -z])
    assert mean_abs_correlation(correlated) > 0.99 and mean_abs_correlation(x) < 0.2
    with pytest.raises(ValueError, match="both classes"):
        task_statistics(x, np.zeros(n))


def test_real_data_chunks_are_binary_tasks_of_d_features():
    xs, ys = real_tasks(dims=3, chunk=50, max_tasks=20, seed=0)
    assert len(xs) == 20 and all(x.shape == (50, 3) for x in xs)
    assert all(set(np.unique(y)) == {0.0, 1.0} for y in ys)
    assert all(x.min() >= 0 and x.max() <= 1 for x in xs)


def test_stats_table_file_real_and_priors(tmp_path):
    path = write_tasks_csv(tmp_path / "tasks.csv", n_tasks=12, n_features=3, n_trials=40)
    cfg = StatsConfig(dims=3, priors=("linear", "mlp"), n_tasks=40, n_trials=80, train_sizes=(4, 16, 64))
    table = run_task_stats([str(path)], cfg, tmp_path / "out")
    assert list(table["source"]) == ["tasks", "real (CC18)", "prior: linear", "prior: mlp"]
    lin, mlp = (table.set_index("source").loc[k] for k in ("prior: linear", "prior: mlp"))
    assert lin["linear_preferred"] > mlp["linear_preferred"]  # the linear prior is more linear
    assert lin["acc_64"] > lin["acc_4"] and lin["acc_64"] > 0.9
    assert lin["correlation"] < 0.2  # independent Gaussian features
    for f in ("task_stats.csv", "task_stats_per_task.csv", "task_stats.png", "task_stats.json"):
        assert (tmp_path / "out" / f).is_file()
    assert len(pd.read_csv(tmp_path / "out" / "task_stats_per_task.csv")) == table["tasks"].sum()


def test_a_file_is_analysed_whole_unless_capped_and_a_cap_is_reported(tmp_path):
    from mlcog.tasks.stats import file_tasks

    path = tmp_path / "tasks.csv"
    rows = ["input,target,trial_id,task_id"]
    for task in range(5):
        rows += [f'"[{t}.0, {task + t % 2}.0, 1.5]",{"ab"[t % 2]},{t},{task}' for t in range(6)]
    path.write_text("\n".join(rows) + "\n")
    xs, _, note = file_tasks(path, 3)
    assert len(xs) == 5 and "analysed the first" not in note
    xs, _, note = file_tasks(path, 3, max_tasks=2)
    assert len(xs) == 2 and "analysed the first 2 of 5 usable tasks" in note
