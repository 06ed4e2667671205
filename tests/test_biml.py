"""BIML / MLC (Lake & Baroni 2023): grammars, episodes, data loaders, model, training, evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mlcog.data.biml import (
    EpisodeFileError,
    load_few_shot_human,
    load_gold_episode,
    load_open_ended,
    read_episode_file,
)
from mlcog.experiments import biml as ex
from mlcog.models.seq2seq import Seq2SeqConfig, Seq2SeqTransformer, encode_batch, source_tokens
from mlcog.tasks import biml as tb
from mlcog.train.biml import BimlTrainConfig, load_biml_model, lr_factor, train_biml

TINY = Seq2SeqConfig(d_model=32, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=64, dropout=0.0)


# -- grammar interpretation ---------------------------------------------------------------------------------------
def test_gold_grammar_reproduces_every_gold_item():
    g, ep = tb.gold_grammar(), load_gold_episode()
    assert len(ep.study) == 14 and len(ep.queries) == 10
    for x, y in ep.study + ep.queries:
        assert g.interpret(x) == y


@pytest.mark.parametrize("text, expected", [
    ("DAX thrice after 2", "2 DAX DAX DAX"),
    ("3 after DAX thrice", "DAX DAX DAX 3"),
    ("2 after 3 surround DAX", "3 DAX 3 2"),
    ("DAX surround 3 after 1 thrice", "1 1 1 DAX 3 DAX"),
    ("1 after 2 after 3", "3 2 1"),  # greedy x1: splits at the last 'after' -> [3] [1 after 2]
    ("1 2 3", "1 2 3"),  # iconic concatenation u1 x1
    ("1 thrice thrice", None),  # 'u1 thrice' needs a single word before 'thrice'
    ("after", None),  # no rule applies
])
def test_gold_grammar_hand_cases(text, expected):
    out = tb.gold_grammar().interpret(text)
    assert out == (None if expected is None else tuple(expected.split()))


def test_rule_order_and_u_binds_one_word():
    g = tb.Grammar.from_lines(["a -> RED", "b -> BLUE", "u1 f x1 -> [x1] [u1] [x1]", "x1 f u1 -> [u1]",
                               "u1 x1 -> [u1] [x1]"])
    assert g.interpret("a f b a") == ("BLUE", "RED", "RED", "BLUE", "RED")  # x1 = "b a", concatenated
    assert g.interpret("a f b") == ("BLUE", "RED", "BLUE")  # first matching rule wins over 'x1 f u1'
    assert g.interpret("a b f a") == ("RED",)  # only 'x1 f u1' matches (u1 binds one word)


def test_recursion_limit_returns_none():
    g = tb.Grammar.from_lines(["a -> RED", "x1 f -> [x1] [x1]", "u1 x1 -> [u1] [x1]"])
    assert g.interpret("a f f f f f") is None  # 2^5 leaves need more than 50 recursive calls
    assert len(g.interpret("a f f f")) == 8


def test_malformed_rules_raise():
    with pytest.raises(tb.GrammarError, match="->"):
        tb.parse_rule("u1 f [u1]")
    with pytest.raises(tb.GrammarError, match="bracketed"):
        tb.parse_rule("u1 f -> [x1]")
    with pytest.raises(tb.GrammarError, match="twice"):
        tb.parse_rule("u1 f u1 -> [u1]")


def test_equivalence_to_gold_under_permutation():
    permuted = tb.Grammar.from_lines(["lug -> PINK", "dax -> RED", "wif -> BLUE", "zup -> GREEN",
                                      "x1 kiki x2 -> [x2] [x1]", "u1 fep -> [u1] [u1] [u1]",
                                      "u1 tufa u2 -> [u1] [u2] [u1]", "u1 x1 -> [u1] [x1]"])
    assert tb.equivalent_to_gold(permuted)
    other = tb.Grammar.from_lines(["lug -> PINK", "u1 fep -> [u1] [u1]", "u1 tufa u2 -> [u1] [u2] [u1]",
                                   "x1 kiki x2 -> [x2] [x1]", "u1 x1 -> [u1] [x1]"])
    assert not tb.equivalent_to_gold(other)


# -- episode generator ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def episodes():
    rng = np.random.default_rng(0)
    return [tb.sample_episode(rng) for _ in range(200)]


def test_generator_invariants(episodes):
    rhs_lengths = []
    for ep in episodes:
        g = ep.grammar
        assert len(ep.study) == 14 and len(ep.queries) == 10
        pairs = ep.study + ep.queries
        assert len({x for x, _ in pairs}) == 24  # distinct inputs
        for x, y in pairs:
            assert 1 <= len(x) <= 8 and 1 <= len(y) <= 8 and g.interpret(x) == y
        prims = g.primitives()
        assert len(prims) == 4 and len(set(prims.values())) == 4
        assert g.rules[-1] == tb.CONCAT_RULE and len(g.functions()) == 3
        for r in g.functions():
            assert len(r.lhs) in (2, 3) and 2 <= len(r.rhs) <= 8
            assert {t[1:-1] for t in r.rhs} == set(r.variables)  # every argument used
            rhs_lengths.append(len(r.rhs))
        assert not tb.equivalent_to_gold(g)
    # reference: RHS length 2 in about 60% of functions
    assert 0.5 < np.mean(np.array(rhs_lengths) == 2) < 0.7


def test_tabu_grammars_are_avoided():
    val = tb.validation_episodes(30, seed=1)
    tabu = frozenset(ep.grammar.key() for ep in val)
    rng = np.random.default_rng(1)  # the same stream would reproduce the validation grammars without the tabu
    train = [tb.sample_episode(rng, tabu=tabu) for _ in range(30)]
    assert not {ep.grammar.key() for ep in train} & tabu


def test_bias_injection_rate_and_copy_items_untouched(episodes):
    rng = np.random.default_rng(3)
    cfg = tb.EpisodeConfig()
    n_biased = sum(tb.add_bias(ep, rng, 0.2, 8).meta["n_biased"] for ep in episodes)
    assert abs(n_biased / (10 * len(episodes)) - 0.2) < 0.04
    for ep in episodes[:50]:
        q = tb.training_queries(ep, "algebraic+biases", rng, cfg)
        assert len(q) == 24 and q[:14] == ep.study
        assert tb.training_queries(ep, "retrieve", rng, cfg) == ep.study
        assert tb.training_queries(ep, "algebraic", rng, cfg) == ep.study + ep.queries
    with pytest.raises(ValueError, match="unknown BIML variant"):
        tb.training_queries(episodes[0], "joint", rng, cfg)


def test_one_to_one_heuristic_and_flipped_grammar():
    rng = np.random.default_rng(0)
    study = [(("dax",), ("RED",)), (("lug",), ("BLUE",)), (("dax", "fep"), ("RED", "RED"))]
    out = tb.one_to_one_output(("lug", "fep", "dax"), study, rng)
    assert out[0] == "BLUE" and out[2] == "RED" and out[1] in tb.COLOURS and len(out) == 3
    g = tb.Grammar.from_lines(["dax -> RED", "lug -> BLUE", "x1 kiki x2 -> [x2] [x1]", "u1 x1 -> [u1] [x1]"])
    flips = {tb.flipped_grammar(g, rng).interpret("dax kiki lug") for _ in range(200)}
    assert flips == {("BLUE", "RED"), ("RED", "BLUE")}  # swapped with p = 0.5


def test_noise_rate_and_never_empty(episodes):
    rng = np.random.default_rng(0)
    changed = total = 0
    for ep in episodes:
        noisy = tb.add_noise(ep, rng, 0.3)
        for (_, y), (_, z) in zip(ep.queries, noisy.queries, strict=True):
            assert len(z) >= 1 and len(z) <= len(y)
            changed += sum(a != b for a, b in zip(y, z, strict=False)) + (len(y) - len(z))
            total += len(y)
    # 30% of tokens are redrawn, 6/7 of redraws differ (or end the sequence): about 0.26 + truncation
    assert 0.2 < changed / total < 0.5
    assert tb.add_noise(episodes[0], rng, 0.0).queries == episodes[0].queries


def test_random_mapping_is_injective():
    rng = np.random.default_rng(0)
    for _ in range(20):
        in_map, out_map = tb.random_mapping(ex.GOLD_INPUT_TOKENS, ex.GOLD_OUTPUT_TOKENS, rng, ("undefined_action",))
        assert len(set(in_map.values())) == 7 and len(set(out_map.values())) == 5
    with pytest.raises(ValueError, match="injectively"):
        tb.random_mapping(range(10), (), rng)


# -- bundled human data ---------------------------------------------------------------------------------------------
def test_loaders_for_every_bundled_file():
    humans = load_few_shot_human()
    assert [len(ep.queries) for ep in humans] == [22, 22, 25, 24, 24, 20, 20, 20, 20, 20]
    assert sum("undefined_action" in y for ep in humans for _, y in ep.queries) == 2
    assert all(ep.study == load_gold_episode().study for ep in humans)
    open_ended = load_open_ended()
    assert len(open_ended) == 29 and all(len(ep.queries) == 7 and not ep.study for ep in open_ended)
    assert {c for ep in open_ended for _, y in ep.queries for c in y} <= set(tb.COLOURS)


def test_human_statistics_match_the_paper():
    humans = {ep.queries[0][0]: [y for _, y in ep.queries] for ep in load_few_shot_human()}
    s = ex.error_summary(humans, "humans")
    assert round(s["item_accuracy"], 3) == 0.807 and round(s["long_accuracy"], 3) == 0.725
    assert (s["n_one2one"], s["n_errors"], s["n_iconic"], s["n_after_errors"]) == (10, 41, 7, 30)
    bias = ex.human_open_ended_biases().mean().round(3)
    assert bias.to_dict() == {"perfect": 0.586, "one2one": 0.621, "iconic": 0.793, "ME": 0.931}


@pytest.mark.parametrize("content, message", [
    ("IN: 1 OUT: 1\n*QUERY*\n*GRAMMAR*\n", "expected a section header"),
    ("*SUPPORT*\nIN: 1 -> 1\n*QUERY*\n*GRAMMAR*\n", r"bad\.txt:2: expected 'IN: <tokens> OUT: <tokens>'"),
    ("*SUPPORT*\n*QUERY*\nIN: 1 OUT: 1\n", "missing section"),
    ("*SUPPORT*\n*QUERY*\n*GRAMMAR*\n1 -> [x1]\n", "grammar"),
    ("*SUPPORT*\n*SUPPORT*\n", "appears twice"),
])
def test_malformed_episode_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(EpisodeFileError, match=message):
        read_episode_file(path)


def test_malformed_tokens_and_directories(tmp_path):
    gold = (Path(load_gold_episode().path)).read_text()
    bad = tmp_path / "gold.txt"
    bad.write_text(gold.replace("IN: 3 after DAX OUT: DAX 3", "IN: 3 after DAX OUT: DAX 3 3"))
    with pytest.raises(EpisodeFileError, match="disagrees with the file's grammar"):
        load_gold_episode(bad)
    bad.write_text(gold.replace("IN: 3 after DAX OUT: DAX 3", "IN: 3 before DAX OUT: DAX 3"))
    with pytest.raises(EpisodeFileError, match="unexpected token"):
        load_gold_episode(bad)
    with pytest.raises(EpisodeFileError, match="expected 10 response files"):
        load_few_shot_human(tmp_path)
    (tmp_path / "oe").mkdir()
    (tmp_path / "oe" / "00.txt").write_text("*SUPPORT*\n*QUERY*\nIN: fep OUT: color:#123456;\n*GRAMMAR*\n")
    with pytest.raises(EpisodeFileError, match="response 1"):
        load_open_ended(tmp_path / "oe")
    with pytest.raises(EpisodeFileError, match="no such episode file"):
        read_episode_file(tmp_path / "missing.txt")


# -- model, likelihood, analyses ------------------------------------------------------------------------------------
def test_model_size_and_source_layout():
    assert Seq2SeqTransformer().n_params() == 1_393_801  # the original's count
    src = source_tokens(("wif", "kiki", "zup"), [(("dax",), ("RED",)), (("lug", "kiki"), ("GREEN", "BLUE"))])
    assert src == "wif kiki zup SOS dax IO RED SOS lug kiki IO GREEN BLUE SOS".split()
    with pytest.raises(ValueError, match="not in the BIML input vocabulary"):
        encode_batch([["1", "after"]])


def test_lapse_likelihood_hand_computed():
    probs = [np.array([0.5, 0.25]), np.array([1.0])]
    expected = math.log(0.9 * 0.5 + 0.1 / 7) + math.log(0.9 * 0.25 + 0.1 / 7) + math.log(0.9 + 0.1 / 7)
    assert ex.lapse_loglik(probs, 0.1) == pytest.approx(expected)
    assert ex.lapse_loglik([np.array([0.0])], 1.0) == pytest.approx(math.log(1 / 7))
    table = pd.DataFrame({"lapse": [0.01, 0.02, 0.03, 0.04], "loglik": [-10.0, -9.0, -9.5, -8.0]})
    assert ex.fit_lapse(table)["lapse"] == 0.02  # stops at the first value that does worse


def test_target_probs_match_teacher_forced_softmax():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(TINY).eval()
    sources = [source_tokens(("dax",), []), source_tokens(("lug", "kiki"), [(("dax",), ("RED",))])]
    targets = [("RED",), ("BLUE", "RED", "BLUE")]
    probs = ex.target_probs(model, sources, targets)
    assert [len(p) for p in probs] == [2, 4]  # EOS scored
    src, dec_in, dec_out = encode_batch(sources[1:], targets[1:])
    p = torch.softmax(model(src, dec_in), -1)[0, torch.arange(4), dec_out[0]].detach().numpy()
    assert np.allclose(probs[1], p, atol=1e-5)


def test_error_classifiers_original_cases():
    c = lambda s: tuple(s.split())  # noqa: E731
    assert not ex.is_iconic_error(c("3 DAX 3 2"), c("3 DAX 3 2"))
    assert ex.is_iconic_error(c("2 3 DAX 3"), c("3 DAX 3 2"))
    assert ex.is_one2one_error(c("2 after 3 surround DAX"), c("2 1 3 2 DAX"))
    assert not ex.is_one2one_error(c("2 after 3 surround DAX"), c("2 1 3 2 2"))


def test_lr_schedule_matches_original():
    cfg = BimlTrainConfig(steps=50 * 4000)
    assert lr_factor(cfg, 0) == pytest.approx(1e-4)
    assert lr_factor(cfg, 4000) == 1.0 and lr_factor(cfg, 7999) == 1.0
    assert lr_factor(cfg, 49 * 4000) == pytest.approx(0.05)


# -- training -----------------------------------------------------------------------------------------------------
def _cfg(**kw) -> BimlTrainConfig:
    base = dict(steps=4, steps_per_epoch=2, batch_size=2, query_subsample=4, n_val=4, eval_every=2,
                checkpoint_every=2, device="cpu", model=TINY)
    return BimlTrainConfig(**{**base, **kw})


def test_training_resume_is_exact(tmp_path):
    train_biml(_cfg(), tmp_path / "full", progress=False)
    train_biml(_cfg(steps=2), tmp_path / "part", progress=False)
    train_biml(_cfg(), tmp_path / "part", resume=True, progress=False)
    rows = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert rows(tmp_path / "full") == rows(tmp_path / "part")
    with pytest.raises(ValueError, match="config differs"):
        train_biml(_cfg(lr=0.5), tmp_path / "part", resume=True, progress=False)
    model = load_biml_model(tmp_path / "full")
    assert model.variant == "algebraic+biases" and model.config == TINY


def test_basic_seq2seq_learns_study_pairs_but_not_the_gold_queries(tmp_path):
    cfg = _cfg(variant="basic_seq2seq", steps=300, steps_per_epoch=1, eval_every=50, checkpoint_every=300,
               model=Seq2SeqConfig(d_model=32, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=64,
                                   dropout=0.0))
    train_biml(cfg, tmp_path, progress=False)
    model = load_biml_model(tmp_path / "model.safetensors")
    pairs = ex.basic_seq2seq_pairs()
    preds = ex.generate(model, [source_tokens(x, []) for x, _ in pairs])
    assert np.mean([p == y for p, (_, y) in zip(preds, pairs, strict=True)]) >= 0.9
    assert ex.gold_accuracy(model).iloc[-1]["accuracy"] < 0.5  # no compositional generalisation (paper: 0%)
    ll = ex.human_loglik(model, n_rep=1)
    assert ll["n_responses"].iloc[0] == 215  # the two undefined_action responses are skipped


def test_evaluation_tables_run_on_a_tiny_model():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(TINY).eval()
    acc = ex.gold_accuracy(model, n_episodes=3)
    assert len(acc) == 11 and 0 <= acc["accuracy"].min() <= acc["accuracy"].max() <= 1
    ll = ex.human_loglik(model, n_rep=2)
    assert (ll["n_responses"] == 217).all() and (ll["loglik"] < 0).all()
    # an untrained model is near uniform, so more lapse helps: the likelihood rises along the grid
    assert ll["loglik"].iloc[-1] > ll["loglik"].iloc[0]
    bias = ex.open_ended_biases(model, n_samples=5)
    assert list(bias.columns) == ["who", "perfect", "one2one", "iconic", "ME"] and len(bias) == 4
    errors = ex.error_types(model, multiplier=1)
    assert errors.iloc[0]["n_errors"] == 41


def test_bundled_baseline_and_cli(tmp_path):
    from typer.testing import CliRunner

    from mlcog.cli import app

    assert {"basic-seq2seq-cpu", "biml-algebraic-biases-cpu"} <= set(ex.biml_zoo_names())
    biml = ex.load_biml("biml-algebraic-biases-cpu")
    assert biml.variant == "algebraic+biases" and biml.n_params() == 236_105
    model = ex.load_biml("basic-seq2seq-cpu")
    assert ex.is_basic(model) and ex.gold_accuracy(model).iloc[-1]["accuracy"] == 0.0  # paper: 0%
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "biml", "--model", "basic-seq2seq-cpu", "--n-rep", "1", "--n-episodes", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Acc Novel" in result.output and (tmp_path / "lapse_fit.csv").exists()
    result = runner.invoke(app, ["eval", "biml", "--model", "no-such-model"])
    assert result.exit_code == 2 and "neither a BIML zoo model" in result.output


def test_symbolic_oracle_likelihood():
    c = lambda s: tuple(s.split())  # noqa: E731
    assert ex.oracle_probs(c("3 after DAX"), c("DAX 3")).tolist() == [1.0, 1.0, 1.0]
    assert np.allclose(ex.oracle_probs(c("3 after DAX"), c("3 DAX")), [0.0, 1 / 7, 1 / 7])
    assert np.allclose(ex.oracle_probs(c("3 after DAX"), c("DAX 3 3")), [1.0, 1.0, 0.0, 1 / 7])
    fit = ex.fit_lapse(ex.oracle_loglik())
    # 80.7% of responses are exact: a small lapse explains the rest; no lapse at all would give -inf
    assert 0.01 < fit["lapse"] < 0.2 and -600 < fit["loglik"] < -300
