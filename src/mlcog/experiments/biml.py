"""Evaluating BIML (Lake & Baroni 2023): gold few-shot accuracy, human log-likelihood with a lapse rate,
error types of sampled responses, and inductive biases on the open-ended task.  Every function returns
pandas DataFrames.

All canonical data (``1 2 3 DAX thrice surround after``; open-ended pseudowords) are re-mapped to random
words and colours on every pass, as in the original evaluation.  The basic seq2seq baseline
(``variant == "basic_seq2seq"``) instead sees the 14 study pairs' fixed assignment :data:`BASIC_INPUT_MAP` /
:data:`BASIC_OUTPUT_MAP`, no study context and no re-mapping.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from mlcog.data.biml import (
    GOLD_INPUT_TOKENS,
    GOLD_OUTPUT_TOKENS,
    UNDEFINED,
    load_few_shot_human,
    load_gold_episode,
    load_open_ended,
)
from mlcog.models.seq2seq import OUT_PAD, Seq2SeqTransformer, encode_batch, source_tokens
from mlcog.tasks.biml import COLOURS, random_mapping, remap_pairs

# The word/colour assignment participants of the paper's figures saw (lib_few_shot.js); the baseline's fixed one.
BASIC_INPUT_MAP = {"1": "dax", "2": "lug", "3": "wif", "DAX": "zup", "thrice": "fep", "surround": "blicket",
                   "after": "kiki"}
BASIC_OUTPUT_MAP = {"1": "RED", "2": "BLUE", "3": "GREEN", "DAX": "YELLOW"}
LAPSE_GRID = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
N_LAPSE_SYMBOLS = len(COLOURS) + 1  # the six colours and end-of-sequence
# Paper / computed reference figures (shared reference note, section 8).
PAPER = {"human_gold_acc": 0.807, "mlc_gold_acc": 1.0, "basic_gold_acc": 0.0,
         "human_one2one_err": 0.244, "human_iconic_err": 0.233, "mlc_one2one_err": 0.563, "mlc_iconic_err": 0.138,
         "open_human": {"perfect": 0.586, "one2one": 0.621, "iconic": 0.793, "ME": 0.931},
         "open_mlc": {"perfect": 0.65, "one2one": 0.66, "iconic": 0.85, "ME": 0.99}}


def is_basic(model: Seq2SeqTransformer) -> bool:
    return getattr(model, "variant", "") == "basic_seq2seq"


def basic_seq2seq_pairs(queries: bool = False):
    """The gold study pairs (or queries) under the baseline's fixed word/colour assignment."""
    gold = load_gold_episode()
    return remap_pairs(gold.queries if queries else gold.study, BASIC_INPUT_MAP, BASIC_OUTPUT_MAP)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate(model: Seq2SeqTransformer, sources: list[list[str]], *, sample: bool = False, seed: int = 0,
             batch_size: int = 500, max_steps: int = 10) -> list[tuple[str, ...]]:
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    outs = []
    for i in range(0, len(sources), batch_size):
        src = encode_batch(sources[i:i + batch_size]).to(_device(model))
        outs += model.generate(src, max_steps=max_steps, sample=sample, generator=gen)
    return outs


@torch.no_grad()
def target_probs(model: Seq2SeqTransformer, sources, targets, batch_size: int = 500) -> list[np.ndarray]:
    """Teacher-forced model probability of every target token, end-of-sequence included (one array each)."""
    model.eval()
    out = []
    for i in range(0, len(sources), batch_size):
        src, dec_in, dec_out = (t.to(_device(model)) for t in encode_batch(sources[i:i + batch_size],
                                                                             targets[i:i + batch_size]))
        logp = torch.log_softmax(model(src, dec_in).float(), -1)
        p = logp.gather(-1, dec_out.clamp(max=logp.shape[-1] - 1).unsqueeze(-1)).squeeze(-1).exp().cpu().numpy()
        for row, tgt in zip(p, dec_out.cpu().numpy(), strict=True):
            out.append(row[tgt != OUT_PAD])
    return out


def lapse_loglik(probs: list[np.ndarray], lapse: float) -> float:
    """sum_t log((1 - lapse) P_model(y_t) + lapse / 7) over all responses and tokens (EOS included)."""
    return float(sum(np.log((1 - lapse) * p + lapse / N_LAPSE_SYMBOLS).sum() for p in probs))


# -- gold few-shot accuracy --------------------------------------------------------------------------------------
def _remapped_gold(rng: np.random.Generator, extra_out=()):
    in_map, out_map = random_mapping(GOLD_INPUT_TOKENS, GOLD_OUTPUT_TOKENS, rng, extra_out)
    gold = load_gold_episode()
    study = [gold.study[i] for i in rng.permutation(len(gold.study))]
    return remap_pairs(study, in_map, out_map), in_map, out_map


def gold_accuracy(model: Seq2SeqTransformer, n_episodes: int = 100, seed: int = 0) -> pd.DataFrame:
    """Greedy exact-match accuracy per gold query over ``n_episodes`` random re-mappings (plus the mean row)."""
    gold = load_gold_episode()
    rng = np.random.default_rng(seed)
    sources, targets, items = [], [], []
    for _ in range(1 if is_basic(model) else n_episodes):
        if is_basic(model):
            study, in_map, out_map = [], BASIC_INPUT_MAP, BASIC_OUTPUT_MAP
        else:
            study, in_map, out_map = _remapped_gold(rng)
        for k, (x, y) in enumerate(remap_pairs(gold.queries, in_map, out_map)):
            sources.append(source_tokens(x, study))
            targets.append(y)
            items.append(k)
    preds = generate(model, sources)
    correct = np.array([p == t for p, t in zip(preds, targets, strict=True)], dtype=float)
    rows = [{"query": " ".join(gold.queries[k][0]), "gold": " ".join(gold.queries[k][1]),
             "accuracy": correct[np.array(items) == k].mean()} for k in range(len(gold.queries))]
    rows.append({"query": "ALL (Acc Novel)", "gold": "", "accuracy": correct.mean()})
    return pd.DataFrame(rows)


# -- human log-likelihood with a lapse rate ----------------------------------------------------------------------
def human_probs(model: Seq2SeqTransformer, n_rep: int = 100, seed: int = 0) -> list[list[np.ndarray]]:
    """Per pass (one random re-mapping and study order each), model probabilities of all human responses."""
    humans = load_few_shot_human()
    rng = np.random.default_rng(seed)
    passes = []
    for _ in range(1 if is_basic(model) else n_rep):
        sources, targets = [], []
        for ep in humans:
            if is_basic(model):  # the original scores the baseline without the undefined_action responses
                pairs = [(x, y) for x, y in ep.queries if UNDEFINED not in y]
                study, pairs = [], remap_pairs(pairs, BASIC_INPUT_MAP, BASIC_OUTPUT_MAP)
            else:  # one mapping per file and pass; undefined_action gets a colour of its own
                study, in_map, out_map = _remapped_gold(rng, extra_out=(UNDEFINED,))
                pairs = remap_pairs(ep.queries, in_map, out_map)
            for x, y in pairs:
                sources.append(source_tokens(x, study))
                targets.append(y)
        passes.append(target_probs(model, sources, targets))
    return passes


def human_loglik(model: Seq2SeqTransformer, n_rep: int = 100, seed: int = 0, lapses=LAPSE_GRID) -> pd.DataFrame:
    """Log-likelihood of the human few-shot responses for every lapse rate: mean and SD over passes."""
    passes = human_probs(model, n_rep, seed)
    n_tokens = sum(len(p) for p in passes[0])
    rows = []
    for lapse in lapses:
        lls = np.array([lapse_loglik(p, lapse) for p in passes])
        rows.append({"lapse": lapse, "loglik": lls.mean(), "sd": lls.std(ddof=1) if len(lls) > 1 else 0.0,
                     "loglik_per_token": lls.mean() / n_tokens, "n_responses": len(passes[0]),
                     "n_tokens": n_tokens, "n_passes": len(passes)})
    return pd.DataFrame(rows)


def oracle_probs(command, response) -> np.ndarray:
    """The symbolic oracle (gold grammar): P = 1 for the gold token while the prefix agrees with the gold output,
    0 for any other token; once the prefix has left the gold output it makes no prediction (uniform 1/7)."""
    gold = tuple(load_gold_episode().grammar.interpret(command)) + ("EOS",)
    out, on_track = [], True
    for t, tok in enumerate(tuple(response) + ("EOS",)):
        if on_track and t < len(gold):
            out.append(1.0 if tok == gold[t] else 0.0)
            on_track = tok == gold[t]
        else:
            out.append(1 / N_LAPSE_SYMBOLS)
    return np.array(out)


def oracle_loglik(lapses=LAPSE_GRID) -> pd.DataFrame:
    """Human log-likelihood of the symbolic oracle + lapse (no re-mapping needed: it is symbol-invariant)."""
    probs = [oracle_probs(x, y) for ep in load_few_shot_human() for x, y in ep.queries]
    n_tokens = sum(len(p) for p in probs)
    return pd.DataFrame([{"lapse": lapse, "loglik": lapse_loglik(probs, lapse), "sd": 0.0,
                          "loglik_per_token": lapse_loglik(probs, lapse) / n_tokens, "n_responses": len(probs),
                          "n_tokens": n_tokens, "n_passes": 1} for lapse in lapses])


def fit_lapse(table: pd.DataFrame) -> pd.Series:
    """The original's grid search: walk the grid and stop at the first lapse rate that does worse."""
    best = table.iloc[0]
    for _, row in table.iloc[1:].iterrows():
        if row["loglik"] < best["loglik"]:
            break
        best = row
    return best


# -- sampled responses: error types on the few-shot task ----------------------------------------------------------
def is_one2one_error(command, prediction) -> bool:
    """Same length as the command, each primitive replaced by its own symbol (function words: anything)."""
    if len(command) != len(prediction):
        return False
    return all(c not in GOLD_OUTPUT_TOKENS or c == p for c, p in zip(command, prediction, strict=True))


def is_iconic_error(prediction, target) -> bool:
    """An ``after`` response with its arguments in the order spoken (= reversed gold for MiniSCAN)."""
    return tuple(prediction)[::-1] == tuple(target)


def error_summary(responses: dict[tuple[str, ...], list[tuple[str, ...]]], who: str) -> dict:
    gold = dict(load_gold_episode().queries)
    accs, one2one, iconic = [], [], []
    for command, preds in responses.items():
        target = gold[command]
        accs.append(np.mean([p == target for p in preds]))
        for p in preds:
            if p != target:
                one2one.append(is_one2one_error(command, p))
                if "after" in command:
                    iconic.append(is_iconic_error(p, target))
    acc = dict(zip(responses, accs, strict=True))
    long_items = [c for c in responses if len(gold[c]) == 6]
    simple = [c for c in responses if len(c) <= 3]
    return {"who": who, "item_accuracy": float(np.mean(accs)),
            "simple_accuracy": float(np.mean([acc[c] for c in simple])),
            "complex_accuracy": float(np.mean([acc[c] for c in responses if c not in simple])),
            "long_accuracy": float(np.mean([acc[c] for c in long_items])),
            "n_errors": len(one2one), "one2one_errors": float(np.mean(one2one)) if one2one else math.nan,
            "n_one2one": int(np.sum(one2one)), "n_after_errors": len(iconic),
            "iconic_errors": float(np.mean(iconic)) if iconic else math.nan, "n_iconic": int(np.sum(iconic)),
            "other_errors": float(1 - np.mean(one2one)) if one2one else math.nan}


def sample_few_shot(model: Seq2SeqTransformer, multiplier: int = 10, seed: int = 0):
    """Model samples (canonical tokens) for each query: ``multiplier`` x as many as humans gave."""
    rng = np.random.default_rng(seed)
    jobs, sources = [], []
    for ep in load_few_shot_human():
        command = ep.queries[0][0]
        for _ in range(multiplier * len(ep.queries)):
            if is_basic(model):
                study, in_map, out_map = [], BASIC_INPUT_MAP, BASIC_OUTPUT_MAP
            else:
                study, in_map, out_map = _remapped_gold(rng)
            sources.append(source_tokens([in_map[t] for t in command], study))
            jobs.append((command, {v: k for k, v in out_map.items()}))
    preds = generate(model, sources, sample=True, seed=seed)
    responses: dict = {}
    for (command, inverse), p in zip(jobs, preds, strict=True):
        responses.setdefault(command, []).append(tuple(inverse.get(t, UNDEFINED) for t in p))
    return responses


def error_types(model: Seq2SeqTransformer, multiplier: int = 10, seed: int = 0) -> pd.DataFrame:
    """Accuracy and error-type breakdown of sampled responses next to the humans' (and the paper's MLC)."""
    humans = {ep.queries[0][0]: [y for _, y in ep.queries] for ep in load_few_shot_human()}
    samples = sample_few_shot(model, multiplier, seed)
    model_rows = error_summary(samples, "model samples")
    gold = dict(load_gold_episode().queries)
    h_acc = [np.mean([y == gold[c] for y in ys]) for c, ys in humans.items()]
    m_acc = [np.mean([y == gold[c] for y in samples[c]]) for c in humans]
    model_rows["r_item_accuracy_vs_humans"] = float(np.corrcoef(h_acc, m_acc)[0, 1]) if np.std(m_acc) > 0 else math.nan
    paper = {"who": "paper MLC samples", "item_accuracy": 0.824, "long_accuracy": 0.778,
             "one2one_errors": PAPER["mlc_one2one_err"], "iconic_errors": PAPER["mlc_iconic_err"],
             "r_item_accuracy_vs_humans": 0.788}
    return pd.DataFrame([error_summary(humans, "humans"), model_rows, paper])


# -- open-ended task: inductive biases ---------------------------------------------------------------------------
def abstract_commands(xs) -> list[str]:
    """Abstract form (``p1``, ``p1 p1``, ``p1 p2``, ``p3 p1``, ``p1 p4 p1``, ``p1 p4 p5``, ``p5 p4 p1``)."""
    prim = next(x[0] for x in xs if len(x) == 1)
    out = []
    for x in xs:
        if len(x) == 1:
            out.append("p1")
        elif len(x) == 2:
            out.append("p1 p1" if x == (prim, prim) else "p1 p2" if x[0] == prim else "p3 p1")
        else:
            out.append("p1 p4 p1" if x[0] == prim and x[2] == prim else "p1 p4 p5" if x[0] == prim
                       else "p5 p4 p1")
    return out


def _iconic(xs, ys) -> bool:
    """A consistent left-to-right dictionary explains all 7 responses (the original's string procedure)."""
    try:
        ab = abstract_commands(xs)
        resp = {a: " ".join(y) for a, y in zip(ab, ys, strict=True)}
        prim = resp["p1"]
        if resp["p1 p1"] != f"{prim} {prim}":
            return False
        if not resp["p1 p2"].startswith(prim) or not resp["p3 p1"].endswith(prim):
            return False
        r = resp["p1 p4 p1"]
        if not (r.startswith(prim) and r.endswith(prim)):
            return False
        p4 = r.replace(prim, "").strip()
        tag = f"{prim} {p4}"
        if not resp["p1 p4 p5"].startswith(tag):
            return False
        p5 = resp["p1 p4 p5"].replace(tag, "").strip()
        return resp["p5 p4 p1"] == f"{p5} {p4} {prim}"
    except (KeyError, StopIteration):
        return False


def bias_flags(xs, ys) -> dict[str, bool]:
    """perfect (one-to-one + consistent + mutually exclusive), one2one, iconic, ME for one participant/sample."""
    one2one = all(len(x) == len(y) for x, y in zip(xs, ys, strict=True))
    perfect = one2one
    if perfect:
        d: dict = {}
        for x, y in zip(xs, ys, strict=True):
            for w, c in zip(x, y, strict=True):
                if d.setdefault(w, c) != c:
                    perfect = False
        perfect = perfect and len(set(d.values())) == len(d)
    return {"perfect": perfect, "one2one": one2one, "iconic": _iconic(xs, ys),
            "ME": len({tuple(y) for y in ys}) == len(ys)}


def human_open_ended_biases() -> pd.DataFrame:
    flags = [bias_flags([x for x, _ in ep.queries], [y for _, y in ep.queries]) for ep in load_open_ended()]
    return pd.DataFrame(flags)


def sample_open_ended(model: Seq2SeqTransformer, n_samples: int = 100, seed: int = 0):
    """Iterative sampling (``evaluate_iterative``): y_i is sampled given x_i and the earlier (x_j, y_j)."""
    template = [x for x, _ in load_open_ended()[0].queries]
    words = sorted({w for x in template for w in x})
    rng = np.random.default_rng(seed)
    episodes = []
    for _ in range(n_samples):
        in_map, _ = random_mapping(words, (), rng)
        order = rng.permutation(len(template))
        episodes.append([tuple(in_map[w] for w in template[i]) for i in order])
    answers: list[list[tuple[str, ...]]] = [[] for _ in episodes]
    for i in range(len(template)):
        study = [list(zip(ep[:i], ans, strict=True)) for ep, ans in zip(episodes, answers, strict=True)]
        sources = [source_tokens(ep[i], st) for ep, st in zip(episodes, study, strict=True)]
        for ans, y in zip(answers, generate(model, sources, sample=True, seed=seed + i), strict=True):
            ans.append(y)
    return list(zip(episodes, answers, strict=True))


def open_ended_biases(model: Seq2SeqTransformer | None, n_samples: int = 100, seed: int = 0) -> pd.DataFrame:
    """Proportions consistent with each bias: humans (bundled data), model samples, and the paper's figures."""
    h = human_open_ended_biases().mean()
    rows = [{"who": f"humans (n={len(load_open_ended())})", **h.to_dict()},
            {"who": "paper humans", **PAPER["open_human"]}, {"who": "paper MLC samples", **PAPER["open_mlc"]}]
    if model is not None:
        flags = pd.DataFrame([bias_flags(xs, ys) for xs, ys in sample_open_ended(model, n_samples, seed)])
        rows.insert(1, {"who": f"model samples (n={n_samples})", **flags.mean().to_dict()})
    return pd.DataFrame(rows)[["who", "perfect", "one2one", "iconic", "ME"]]


def evaluate_biml(model: Seq2SeqTransformer, n_episodes: int = 100, n_rep: int = 100, n_open: int = 100,
                  seed: int = 0) -> dict[str, pd.DataFrame]:
    """All four analyses; open-ended sampling is skipped for the basic baseline (it has no study context)."""
    ll = human_loglik(model, n_rep, seed)
    best = fit_lapse(ll)
    out = {"gold_accuracy": gold_accuracy(model, n_episodes, seed), "human_loglik": ll,
           "lapse_fit": pd.DataFrame([{"model": "this model", **best.to_dict()},
                                      {"model": "symbolic oracle", **fit_lapse(oracle_loglik()).to_dict()}]),
           "error_types": error_types(model, 10, seed)}
    out["open_ended"] = open_ended_biases(None if is_basic(model) else model, n_open, seed)
    return out


def biml_zoo_names() -> list[str]:
    from importlib import resources

    return sorted(p.name.removesuffix(".safetensors")
                  for p in (resources.files("mlcog") / "zoo" / "biml").iterdir() if p.name.endswith(".safetensors"))


def load_biml(name_or_path: str) -> Seq2SeqTransformer:
    """A bundled BIML model by zoo name (``mlcog/zoo/biml/<name>.safetensors``) or a checkpoint / run directory."""
    from importlib import resources
    from pathlib import Path

    from mlcog.train.biml import load_biml_model

    zoo = Path(str(resources.files("mlcog") / "zoo" / "biml" / f"{name_or_path}.safetensors"))
    if zoo.is_file():
        return load_biml_model(zoo)
    if not Path(name_or_path).exists():
        raise FileNotFoundError(f"{name_or_path!r} is neither a BIML zoo model ({biml_zoo_names()}) nor a path")
    return load_biml_model(name_or_path)
