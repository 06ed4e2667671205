"""Algebraic instruction learning (Lake & Baroni 2023, "MLC"/"BIML"): grammars, interpretation, episodes.

A *grammar* is an ordered list of rewrite rules.  The first rule whose left-hand side full-matches the whole
input string fires; its right-hand side is emitted left to right, bracketed variables (``[x1]``) being
interpreted recursively.  ``u`` variables bind exactly one word, ``x`` variables any non-empty string; ``x``
groups are greedy (as Python regexes), so ``x1 after x2`` splits at the *last* ``after``.

Meta-training episodes come from random grammars: 4 primitives (word -> colour), 3 functions with one or two
arguments and right-hand sides built from the argument variables, and the fixed iconic concatenation rule
``u1 x1 -> [u1] [x1]``.  Inputs are drawn from the PCFG those rules define; 14 study and 10 query pairs are
kept per episode.  Variants (``retrieve``, ``algebraic``, ``algebraic_noise``, ``algebraic+biases``) decide
which query sequences a training episode carries and which transforms are applied to its 10 generalisation
queries (the study items are always appended as copy queries, except in ``retrieve`` where they are the only
queries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

WORDS = ("dax", "lug", "wif", "zup", "fep", "blicket", "kiki", "tufa", "gazzer")
COLOURS = ("RED", "YELLOW", "GREEN", "BLUE", "PURPLE", "PINK")
VARIANTS = ("retrieve", "algebraic", "algebraic_noise", "algebraic+biases")
MAX_RECURSION = 50
_VAR = re.compile(r"^[ux]\d+$")


class GrammarError(ValueError):
    """A malformed rule or grammar."""


@dataclass(frozen=True)
class Rule:
    """``lhs -> rhs``.  LHS tokens are words or variables (``u1``, ``x2``); RHS tokens are outputs or ``[var]``."""

    lhs: tuple[str, ...]
    rhs: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.lhs or not self.rhs:
            raise GrammarError(f"rule {self}: both sides must be non-empty")
        lhs_vars = [t for t in self.lhs if _VAR.match(t)]
        if len(set(lhs_vars)) != len(lhs_vars):
            raise GrammarError(f"rule {self}: a variable appears twice on the left-hand side")
        for t in self.rhs:
            if t.startswith("[") and (not t.endswith("]") or t[1:-1] not in lhs_vars):
                raise GrammarError(f"rule {self}: right-hand side token {t!r} is not a bracketed LHS variable")
        pattern = " ".join("(\\S+)" if t.startswith("u") and _VAR.match(t) else "(.+)" if _VAR.match(t)
                           else re.escape(t) for t in self.lhs)
        object.__setattr__(self, "_regex", re.compile(pattern))
        object.__setattr__(self, "_vars", tuple(lhs_vars))

    @property
    def variables(self) -> tuple[str, ...]:
        return self._vars  # type: ignore[attr-defined]

    @property
    def is_primitive(self) -> bool:
        return not self.variables

    def match(self, text: str) -> dict[str, str] | None:
        m = self._regex.fullmatch(text)  # type: ignore[attr-defined]
        return None if m is None else dict(zip(self.variables, m.groups(), strict=True))

    def __str__(self) -> str:
        return f"{' '.join(self.lhs)} -> {' '.join(self.rhs)}"


def parse_rule(line: str) -> Rule:
    if line.count("->") != 1:
        raise GrammarError(f"rule {line!r}: expected exactly one '->'")
    lhs, rhs = (s.split() for s in line.split("->"))
    return Rule(tuple(lhs), tuple(rhs))


@dataclass(frozen=True)
class Grammar:
    rules: tuple[Rule, ...]

    @classmethod
    def from_lines(cls, lines) -> Grammar:
        return cls(tuple(parse_rule(line) for line in lines if line.strip()))

    def interpret(self, tokens) -> tuple[str, ...] | None:
        """The output for an input (string or tokens), or None when no rule applies / recursion is too deep."""
        text = tokens if isinstance(tokens, str) else " ".join(tokens)
        calls = [0]
        try:
            out = self._apply(text.strip(), calls)
        except RecursionError:
            return None
        return None if out is None else tuple(out)

    def _apply(self, text: str, calls: list[int]) -> list[str] | None:
        calls[0] += 1
        if calls[0] > MAX_RECURSION:
            raise RecursionError
        for rule in self.rules:
            binding = rule.match(text)
            if binding is None:
                continue
            out: list[str] = []
            for t in rule.rhs:
                if t.startswith("["):
                    sub = self._apply(binding[t[1:-1]], calls)
                    if sub is None:
                        return None
                    out.extend(sub)
                else:
                    out.append(t)
            return out
        return None

    def primitives(self) -> dict[str, str]:
        return {r.lhs[0]: r.rhs[0] for r in self.rules if r.is_primitive and len(r.lhs) == 1}

    def functions(self) -> list[Rule]:
        """The function rules (everything with variables except the trailing concatenation rule)."""
        return [r for r in self.rules if not r.is_primitive and r != CONCAT_RULE]

    def key(self) -> tuple[str, ...]:
        """Order-invariant identity (the sorted rule strings), as the original novelty check."""
        return tuple(sorted(str(r) for r in self.rules))

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.rules)


CONCAT_RULE = Rule(("u1", "x1"), ("[u1]", "[x1]"))
GOLD_GRAMMAR_LINES = ("1 -> 1", "3 -> 3", "2 -> 2", "DAX -> DAX", "u1 thrice -> [u1] [u1] [u1]",
                      "u1 surround u2 -> [u1] [u2] [u1]", "x1 after x2 -> [x2] [x1]", "u1 x1 -> [u1] [x1]")


def gold_grammar() -> Grammar:
    return Grammar.from_lines(GOLD_GRAMMAR_LINES)


def _function_signature(rule: Rule) -> tuple:
    """A rule with its function word abstracted away (for equivalence under symbol permutations)."""
    return tuple("F" if not _VAR.match(t) else t for t in rule.lhs), rule.rhs


_GOLD_SIGNATURE = sorted(_function_signature(r) for r in gold_grammar().functions())


def equivalent_to_gold(grammar: Grammar) -> bool:
    """Whether a grammar equals MiniSCAN up to a permutation of words and colours."""
    return sorted(_function_signature(r) for r in grammar.functions()) == _GOLD_SIGNATURE


# -- random grammars -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeConfig:
    """Episode sizes and transforms; defaults follow ``generate_rules_episode`` and ``DataAlgAndBias``."""

    n_study: int = 14
    n_query: int = 10
    n_prims: int = 4
    n_functions: int = 3
    max_len: int = 8
    p_bias: float = 0.2
    p_noise: float = 0.01
    max_tries: int = 2000

    def __post_init__(self) -> None:
        if self.n_prims + self.n_functions > len(WORDS) or self.n_prims > len(COLOURS):
            raise ValueError(f"{self.n_prims} primitives + {self.n_functions} functions exceed the vocabulary")
        if not (0 <= self.p_bias <= 1 and 0 <= self.p_noise <= 1):
            raise ValueError("p_bias and p_noise must lie in [0, 1]")


def _sample_lhs(rng: np.random.Generator, word: str) -> tuple[str, ...]:
    kinds = ["u" if rng.random() < 0.5 else "x" for _ in range(1 if rng.random() < 0.5 else 2)]
    names, count = [], {"u": 0, "x": 0}
    for k in kinds:
        count[k] += 1
        names.append(f"{k}{count[k]}")
    return (names[0], word) if len(names) == 1 else (names[0], word, names[1])


def _sample_rhs(rng: np.random.Generator, variables: list[str], max_len: int) -> tuple[str, ...]:
    rhs = list(variables)
    while len(rhs) < max_len:
        if len(rhs) >= 2 and rng.random() < 0.6:
            break
        rhs.append(variables[rng.integers(len(variables))])
    rng.shuffle(rhs)
    return tuple(f"[{v}]" for v in rhs)


def sample_grammar(rng: np.random.Generator, cfg: EpisodeConfig = EpisodeConfig()) -> Grammar:
    words = list(WORDS)
    colours = list(COLOURS)
    rng.shuffle(words)
    rng.shuffle(colours)
    rules = [Rule((words[i],), (colours[i],)) for i in range(cfg.n_prims)]
    for word in words[cfg.n_prims:cfg.n_prims + cfg.n_functions]:
        lhs = _sample_lhs(rng, word)
        rules.append(Rule(lhs, _sample_rhs(rng, [t for t in lhs if _VAR.match(t)], cfg.max_len)))
    rules.append(CONCAT_RULE)
    return Grammar(tuple(rules))


def _sample_x(rng, prims: list[str], expansions: list[Rule], budget: int) -> list[str] | None:
    """One string from nonterminal X (uniform over ``U`` and every multi-token LHS); None once too long."""
    choice = rng.integers(len(expansions) + 1)
    if choice == len(expansions):
        return [prims[rng.integers(len(prims))]]
    out: list[str] = []
    for t in expansions[choice].lhs:
        if t.startswith("u") and _VAR.match(t):
            out.append(prims[rng.integers(len(prims))])
        elif _VAR.match(t):
            sub = _sample_x(rng, prims, expansions, budget - len(out))
            if sub is None:
                return None
            out.extend(sub)
        else:
            out.append(t)
        if len(out) > budget:
            return None
    return out


def sample_pairs(rng: np.random.Generator, grammar: Grammar, n: int, max_len: int, max_tries: int
                 ) -> list[tuple[tuple[str, ...], tuple[str, ...]]] | None:
    """``n`` distinct (input, output) pairs from the grammar's PCFG, both sides at most ``max_len`` long."""
    prims = list(grammar.primitives())
    expansions = [r for r in grammar.rules if len(r.lhs) > 1]
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    for _ in range(max_tries):
        x = _sample_x(rng, prims, expansions, max_len)
        if x is None or len(x) > max_len or tuple(x) in seen:
            continue
        y = grammar.interpret(x)
        if y is None or len(y) > max_len:
            continue
        seen[tuple(x)] = y
        if len(seen) == n:
            return list(seen.items())
    return None


@dataclass
class Episode:
    """Study pairs, generalisation queries and (optionally) the grammar that produced them."""

    study: list[tuple[tuple[str, ...], tuple[str, ...]]]
    queries: list[tuple[tuple[str, ...], tuple[str, ...]]]
    grammar: Grammar | None = None
    meta: dict = field(default_factory=dict)


def sample_episode(rng: np.random.Generator, cfg: EpisodeConfig = EpisodeConfig(),
                   tabu: frozenset = frozenset()) -> Episode:
    """A random-grammar episode whose grammar is novel (not in ``tabu``, not equivalent to MiniSCAN)."""
    for _ in range(1000):
        grammar = sample_grammar(rng, cfg)
        if grammar.key() in tabu or equivalent_to_gold(grammar):
            continue
        pairs = sample_pairs(rng, grammar, cfg.n_study + cfg.n_query, cfg.max_len, cfg.max_tries)
        if pairs is None:
            continue
        order = rng.permutation(len(pairs))
        pairs = [pairs[i] for i in order]
        return Episode(pairs[:cfg.n_study], pairs[cfg.n_study:], grammar)
    raise RuntimeError("could not sample a valid episode in 1000 grammars; check the EpisodeConfig")


def validation_episodes(n: int, seed: int, cfg: EpisodeConfig = EpisodeConfig()) -> list[Episode]:
    """The fixed validation episodes (their grammars form the tabu list of training grammars)."""
    rng = np.random.default_rng(seed)
    return [sample_episode(rng, cfg) for _ in range(n)]


# -- bias and noise transforms (only ever applied to the generalisation queries) --------------------------------
def one_to_one_output(query: tuple[str, ...], study, rng: np.random.Generator) -> tuple[str, ...]:
    """Left-to-right word-by-word translation: an isolated-primitive study example's colour, else random."""
    known = {x[0]: y[0] for x, y in study if len(x) == 1 and len(y) == 1}
    return tuple(known.get(w) or COLOURS[rng.integers(len(COLOURS))] for w in query)


def flipped_grammar(grammar: Grammar, rng: np.random.Generator) -> Grammar:
    """Each two-argument function swaps its two argument variables on the right-hand side with p = 0.5."""
    rules = []
    for r in grammar.rules:
        if r in grammar.functions() and len(r.variables) == 2 and rng.random() < 0.5:
            a, b = (f"[{v}]" for v in r.variables)
            r = Rule(r.lhs, tuple(b if t == a else a if t == b else t for t in r.rhs))
        rules.append(r)
    return Grammar(tuple(rules))


def add_bias(ep: Episode, rng: np.random.Generator, p_bias: float, max_len: int) -> Episode:
    """With p = ``p_bias`` per query, replace its target by the one-to-one or the argument-flip heuristic."""
    queries, n_biased = [], 0
    for x, y in ep.queries:
        if rng.random() < p_bias:
            n_biased += 1
            if rng.random() < 0.5:
                y = one_to_one_output(x, ep.study, rng)
            else:
                flipped = flipped_grammar(ep.grammar, rng).interpret(x)
                if flipped is not None and len(flipped) <= max_len:
                    y = flipped
        queries.append((x, y))
    return Episode(ep.study, queries, ep.grammar, {**ep.meta, "n_biased": n_biased})


def add_noise(ep: Episode, rng: np.random.Generator, p_noise: float) -> Episode:
    """Each output token with p = ``p_noise`` becomes a random colour or EOS (EOS truncates; never first)."""
    symbols = COLOURS + ("EOS",)
    queries = []
    for x, y in ep.queries:
        out = []
        for i, tok in enumerate(y):
            if rng.random() < p_noise:
                tok = symbols[rng.integers(len(symbols) - (1 if i == 0 else 0))]
                if tok == "EOS":
                    break
            out.append(tok)
        queries.append((x, tuple(out)))
    return Episode(ep.study, queries, ep.grammar, ep.meta)


def training_queries(ep: Episode, variant: str, rng: np.random.Generator, cfg: EpisodeConfig = EpisodeConfig()
                     ) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The query sequences a training episode carries under ``variant`` (copy items first)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown BIML variant {variant!r}; expected one of {VARIANTS}")
    if variant == "retrieve":
        return list(ep.study)
    if variant == "algebraic+biases":
        ep = add_bias(ep, rng, cfg.p_bias, cfg.max_len)
    if variant in ("algebraic_noise", "algebraic+biases"):
        ep = add_noise(ep, rng, cfg.p_noise)
    return list(ep.study) + list(ep.queries)


# -- random re-mapping of canonical episodes (gold and human data) --------------------------------------------
def random_mapping(in_tokens, out_tokens, rng: np.random.Generator, extra_out=()) -> tuple[dict, dict]:
    """Random injections: input tokens -> distinct pseudowords, output tokens (+ ``extra_out``) -> colours."""
    in_tokens, out_tokens = list(in_tokens), list(out_tokens) + [t for t in extra_out if t not in out_tokens]
    if len(in_tokens) > len(WORDS) or len(out_tokens) > len(COLOURS):
        raise ValueError(f"cannot map {len(in_tokens)} words / {len(out_tokens)} outputs injectively")
    words = rng.permutation(len(WORDS))[:len(in_tokens)]
    colours = rng.permutation(len(COLOURS))[:len(out_tokens)]
    return ({t: WORDS[i] for t, i in zip(in_tokens, words, strict=True)},
            {t: COLOURS[i] for t, i in zip(out_tokens, colours, strict=True)})


def remap_pairs(pairs, in_map: dict, out_map: dict):
    return [(tuple(in_map[t] for t in x), tuple(out_map[t] for t in y)) for x, y in pairs]
