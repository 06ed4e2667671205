"""Decision making (Binz et al. 2022): environments, heuristics, loader, decision learner and its training."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mlcog.behaviour import TrialBatch
from mlcog.cognitive.heuristics import (
    EqualWeighting,
    Guessing,
    TakeTheBest,
    WeightedAdditive,
    make_heuristic,
)
from mlcog.data.binz2022 import decision_batch, load_binz2022, load_decision_csv
from mlcog.data.schema import DataError
from mlcog.experiments.binz2022 import AnalysisConfig, env_batch, heuristic_analysis, run_binz2022
from mlcog.fit import compare
from mlcog.models.decision_learner import DecisionLearner, DecisionLearnerConfig, load_decision_learner
from mlcog.tasks.decision import DecisionEnv, DecisionEnvConfig
from mlcog.train.common import read_metrics
from mlcog.train.decision import DecisionTrainConfig, annealed_lambda, train_decision

torch.set_num_threads(1)


# -- environments -------------------------------------------------------------------------------------------
def _sample(condition: str, n: int = 2000, **kw):
    return DecisionEnv(DecisionEnvConfig(condition=condition, **kw)).sample(n, torch.Generator().manual_seed(1))


def test_env_shapes_and_reproducibility():
    a, b = _sample("unknown", 50), _sample("unknown", 50)
    assert a.x.shape == (50, 10, 4) and a.y.shape == (50, 10) and a.w.shape == (50, 4)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert _sample("unknown", 50, n_cues=2).x.shape == (50, 10, 2)


def test_env_weight_statistics_per_condition():
    direction, ranking, unknown = _sample("direction"), _sample("ranking"), _sample("unknown")
    assert (direction.w >= 0).all()
    mag = ranking.w.abs()
    assert (mag[:, :-1] >= mag[:, 1:]).all()  # cue 1 most important
    assert 0.4 < (ranking.w > 0).float().mean() < 0.6  # ranking known, directions not
    assert abs(float(unknown.w.mean())) < 0.05 and abs(float(unknown.w.std()) - 1) < 0.05
    # |w_1| in the ranking condition is the largest of 4 half-normals: E = 1.43 (vs 0.80 for one)
    assert abs(float(mag[:, 0].mean()) - 1.43) < 0.05


def test_env_cues_and_labels():
    ep = _sample("unknown")
    # x_A - x_B of two unit-variance options: variance 2; LKJ(eta=2) correlations average 0, vary by task
    assert abs(float(ep.x.var()) - 2.0) < 0.1
    corr = torch.stack([torch.corrcoef(x.T)[0, 1] for x in ep.x[:500]])
    assert abs(float(corr.mean())) < 0.05 and float(corr.std()) > 0.25
    # criterion noise sigma = 0.1 is small: labels follow sign(w . dx) almost always
    agree = ((ep.x * ep.w[:, None]).sum(-1) > 0).float() == ep.y
    assert float(agree.float().mean()) > 0.95
    assert abs(float(ep.y.mean()) - 0.5) < 0.02


def test_env_rejects_bad_condition():
    with pytest.raises(ValueError, match="unknown condition"):
        DecisionEnvConfig(condition="ranked")


# -- heuristics on a hand-computed case --------------------------------------------------------------------
def _hand_batch() -> TrialBatch:
    x = torch.tensor([[[1.0, -2.0], [0.5, 1.0], [-1.0, 3.0]]])
    y = torch.tensor([[1, 0, 1]])
    return TrialBatch(x, y, torch.tensor([[1, 0, 0]]), torch.ones(1, 3, dtype=torch.bool), torch.tensor([0]),
                      pd.DataFrame({"participant": [0]}))


def _p(model, beta=2.0):
    return model.choice_prob(_hand_batch(), {"beta": torch.tensor([beta], dtype=torch.float64)})[0]


def _sig(z):
    return 1 / (1 + math.exp(-z))


def test_heuristics_hand_computed():
    # running cue-outcome covariance before each trial: [0, 0], [1, -2], [0.5, -3] -> learned directions
    # [0, 0], [+, -], [+, -]
    ttb = _p(TakeTheBest())  # cue 1 decides once its direction is known: evidence 0, 0.5, -1
    assert torch.allclose(ttb, torch.tensor([0.5, _sig(1.0), _sig(-2.0)], dtype=torch.float64))
    ttb_thr = _p(TakeTheBest(directions="positive", threshold=0.75))  # cue 1 silent at trial 2: cue 2 decides
    assert torch.allclose(ttb_thr, torch.tensor([_sig(2.0), _sig(2.0), _sig(-2.0)], dtype=torch.float64))
    ttb_val = _p(TakeTheBest(order="learned"))  # cue 2 has the larger |covariance|: evidence 0, -1, -3
    assert torch.allclose(ttb_val, torch.tensor([0.5, _sig(-2.0), _sig(-6.0)], dtype=torch.float64))
    ew = _p(EqualWeighting())  # evidence 0, 0.5 - 1, -1 - 3
    assert torch.allclose(ew, torch.tensor([0.5, _sig(-1.0), _sig(-8.0)], dtype=torch.float64))
    ew_pos = _p(EqualWeighting(directions="positive"))  # -1, 1.5, 2
    assert torch.allclose(ew_pos, torch.tensor([_sig(-2.0), _sig(3.0), _sig(4.0)], dtype=torch.float64))
    tally = _p(EqualWeighting(directions="positive", tally=True))  # sign counts 0, 2, 0
    assert torch.allclose(tally, torch.tensor([0.5, _sig(4.0), 0.5], dtype=torch.float64))
    # WADD at trial 2: w = (I + x1 x1^T)^-1 x1 = [1/6, -1/3], evidence 0.5/6 - 1/3 = -0.25
    wadd = WeightedAdditive()
    assert torch.allclose(wadd.weights(_hand_batch())[0, 1], torch.tensor([1 / 6, -1 / 3], dtype=torch.float64))
    assert math.isclose(float(_p(wadd)[1]), _sig(-0.5), rel_tol=1e-9)
    assert float(_p(wadd)[0]) == 0.5
    guess = Guessing()
    nll = guess.nll(_hand_batch(), torch.zeros(1, 0, dtype=torch.float64))
    assert math.isclose(float(nll[0]), 3 * math.log(2), rel_tol=1e-9)
    with pytest.raises(ValueError, match="unknown heuristic"):
        make_heuristic("fast-and-frugal")


def test_heuristic_recovered_from_its_own_choices():
    g = torch.Generator().manual_seed(3)
    design = env_batch(DecisionEnv(condition="ranking"), 6, 30, g)
    ttb = make_heuristic("ttb")
    sim = design.with_choices(ttb.simulate(design, {"beta": torch.full((6,), 3.0, dtype=torch.float64)}, g))
    res = compare(sim, [ttb, make_heuristic("ew"), make_heuristic("wadd"), make_heuristic("guess")],
                  subject="participant", n_starts=2, num_threads=1)
    s = res.summary.set_index("model")
    assert s["sum_bic"].idxmin() == "ttb"
    fitted = res.fits.query("model == 'ttb'")["beta"]
    assert 2.0 < float(fitted.mean()) < 4.5


# -- loader ---------------------------------------------------------------------------------------------------
def test_bundled_experiments_load():
    for exp, n in ((1, 28), (2, 24), (3, 23)):
        trials, report = load_binz2022(exp)
        assert report.n_participants == n and report.n_excluded == 0 and report.n_features == 4
        assert (trials.groupby("participant").size() == 300).all()
    trials, _ = load_binz2022(2)
    # polarity: with known (positive) directions every cue favours the better option
    for c in ("feature1", "feature2", "feature3", "feature4"):
        assert np.corrcoef(trials[c], trials["category"])[0, 1] > 0.1
    batch = decision_batch(trials)
    assert batch.stimuli.shape == (24 * 30, 10, 4) and batch.n_units == 24


GOOD = "participant,task,step,x0,x1,choice,target,time\n0,0,0,0.5,-1,1,1,100\n0,0,1,1.5,0.2,0,1,120\n"


@pytest.mark.parametrize("text, row, column, message", [
    (GOOD.replace("target", "correct"), 1, "target", "missing"),
    (GOOD.replace("x1", "x2"), 1, "x0", "x0, x1"),
    (GOOD.replace("1.5,0.2", "1.5,abc"), 3, "x1", "finite number"),
    (GOOD.replace("0,1,120", "0,2,120"), 3, "target", "0 or 1"),
    (GOOD.replace("0,0,1,1.5", "0,0,0,1.5"), 3, "step", "appears twice"),
    (GOOD.replace("0,0,1,1.5", "0,0,-1,1.5"), 3, "step", "integer >= 0"),
    (GOOD.replace(",100", ",-5"), 2, "time", "response time"),
])
def test_loader_errors_name_row_and_column(tmp_path, text, row, column, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        load_decision_csv(path)
    assert err.value.row == row and err.value.column == column and str(path) in str(err.value)


def test_loader_counts_exclusions(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(GOOD + "0,0,2,0.1,0.1,,1,130\n\n")
    trials, report = load_decision_csv(path)
    assert len(trials) == 2 and report.n_excluded == 2
    assert report.reasons == {"blank row": 1, "empty choice (no response)": 1}
    assert trials["feature1"].tolist() == [-0.5, -1.5]  # negated: x_A - x_B for the option coded 1
    assert load_decision_csv(path, negate=False)[0]["feature1"].tolist() == [0.5, 1.5]


# -- decision learner and training -------------------------------------------------------------------------
def test_decision_learner_is_causal_and_linear_in_current_cues():
    torch.manual_seed(0)
    net = DecisionLearner(DecisionLearnerConfig(n_cues=3, d_model=16, n_heads=2)).eval()
    x, y = torch.randn(2, 5, 3), torch.randint(0, 2, (2, 5)).float()
    w = net.weights(x, y)
    x2, y2 = x.clone(), y.clone()
    x2[:, 3], y2[:, 3] = 9.0, 1 - y2[:, 3]  # changes trial 3: weights up to trial 3 must not move
    w2 = net.weights(x2, y2)
    assert torch.allclose(w[:, :4], w2[:, :4]) and not torch.allclose(w[:, 4], w2[:, 4])
    assert torch.allclose(net(x, y), (w * x).sum(-1))


def test_annealed_lambda():
    cfg = DecisionTrainConfig(steps=1000, lambda_=4.0, anneal_frac=0.2)
    assert [annealed_lambda(cfg, s) for s in (0, 100, 200, 900)] == [0.0, 2.0, 4.0, 4.0]


def test_training_runs_checkpoints_and_resumes(tmp_path):
    small = DecisionLearnerConfig(n_cues=2, d_model=16, n_heads=2, n_layers=1)
    # constant lambda: the annealing span scales with --steps, so only a flat schedule survives changing it
    cfg = DecisionTrainConfig(steps=40, batch_size=16, lambda_=1.0, lambda_init=1.0, eval_every=20, eval_tasks=64,
                              checkpoint_every=20, log_every=10, device="cpu",
                              env=DecisionEnvConfig(condition="direction", n_cues=2), model=small)
    full = train_decision(cfg, tmp_path / "full", progress=False)
    train_decision(DecisionTrainConfig(**{**cfg.__dict__, "steps": 20}), tmp_path / "part", progress=False)
    resumed = train_decision(cfg, tmp_path / "part", resume=True, progress=False)
    assert full["step"] == resumed["step"] == 40
    a, b = load_decision_learner(tmp_path / "full" / "model.safetensors"), load_decision_learner(
        tmp_path / "part" / "model.safetensors")
    assert all(torch.allclose(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert [r["lambda_"] for r in read_metrics(tmp_path / "full") if "lambda_" in r][-1] == 1.0
    with pytest.raises(FileExistsError):
        train_decision(cfg, tmp_path / "full", progress=False)


def test_run_binz2022_writes_comparison(tmp_path):
    res = run_binz2022(3, ["ttb", "wadd", "guess"], tmp_path, n_starts=1, echo=lambda *_: None)
    assert set(res.summary["model"]) == {"ttb", "wadd", "guess"}
    assert len(res.best) == 23
    assert (tmp_path / "summary.csv").exists() and (tmp_path / "model_frequencies.png").exists()
    with pytest.raises(ValueError, match="neither a heuristic"):
        run_binz2022(3, ["no-such-model"], None, echo=lambda *_: None)


def test_heuristic_analysis_table(tmp_path):
    small = DecisionLearnerConfig(n_cues=2, d_model=16, n_heads=2, n_layers=1)
    cfg = DecisionTrainConfig(steps=10, batch_size=8, eval_every=10, eval_tasks=32, device="cpu",
                              env=DecisionEnvConfig(condition="ranking", n_cues=2), model=small)
    train_decision(cfg, tmp_path / "run", progress=False)
    table = heuristic_analysis({"tiny": tmp_path / "run"}, tmp_path, AnalysisConfig(n_agents=3, n_tasks=4),
                               echo=lambda *_: None)
    assert list(table["heuristic"]) == list(AnalysisConfig().heuristics)
    assert (table["condition"] == "ranking").all() and table["winner"].nunique() == 1
    best = table.loc[table["sum_bic"].idxmin(), "heuristic"]
    assert table["winner"].iloc[0] == best and (tmp_path / "heuristic_analysis.csv").exists()


def test_zoo_decision_learners_reproduce_the_heuristic_shift(tmp_path):
    """Binz et al. (2022): with the cue ranking known, squeezing the network (lambda 4) turns a
    weighted-additive learner into take-the-best; with cue directions known it acts like equal weighting."""
    from mlcog.experiments.binz2022 import decision_model, heuristic_analysis

    table = heuristic_analysis({n: n for n in ("bmi-ranking-l0", "bmi-ranking-l4", "bmi-direction-l4")},
                               tmp_path, echo=lambda *_: None)
    winners = table.drop_duplicates("learner").set_index("learner")
    assert winners.loc["bmi-ranking-l0", "winner"] == "wadd"
    assert winners.loc["bmi-ranking-l4", "winner"] == "ttb"
    assert winners.loc["bmi-direction-l4", "winner"] == "ew-positive"
    assert winners.loc["bmi-ranking-l4", "gini"] > winners.loc["bmi-ranking-l0", "gini"]  # sparser weights
    assert decision_model("bmi-ranking-l2").name == "bmi-ranking-l2"
