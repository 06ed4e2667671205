"""Tolerant parsing of LLM responses into label sets and stimulus rows, with every rejection counted by reason.

Models rarely follow a row template exactly.  Seen in practice: numbered lines ("1: ", "1. ", "1) ", "Stimulus 1:"),
markdown bullets and bold, table pipes, units after numbers ("120 g"), ``key=value`` pairs, ``x=[..], y=label``,
labels in parentheses or after an arrow, plural/singular or case changes of the category name, and prose before
and after the list.  The parser accepts all of these; a line that still cannot be read is counted, never silently
dropped.  Lines without any digit are prose, not attempted rows, and are counted separately as ``prose_lines``.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

# Reasons, as reported in run summaries (fixed strings so counts from different runs can be added).
UNPARSEABLE = "unparseable"
WRONG_FEATURES = "wrong number of features"
UNKNOWN_LABEL = "unknown category label"
DUPLICATE = "duplicate"
ONE_CLASS = "one class only"
TOO_FEW = "too few rows"
NO_RESPONSE = "no response"

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_INDEX = re.compile(r"^\s*(?:(?:stimulus|stimuli|row|item|trial|example|experiment|task|no\.?)\s*)?#?\s*\d+\s*"
                    r"(?:[:)\]|]|\.(?!\d)|-(?=\s))\s*", re.IGNORECASE)
_MARKUP = re.compile(r"[*`_>]+")
_FIELD_SPLIT = re.compile(r"[,;|\t]+")


def normalise_name(text: str) -> str:
    """Lower case, letters and digits only: 'Good Weather' and 'goodweather' compare equal."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _name_variants(name: str) -> set[str]:
    n = normalise_name(name)
    out = {n}
    if n.endswith("ies"):
        out.add(n[:-3] + "y")
    if n.endswith("es"):
        out.add(n[:-2])
    if n.endswith("s"):
        out.add(n[:-1])
    out.update({n + "s", n + "es"})
    return {v for v in out if v}


def match_category(text: str, categories: list[str]) -> int | None:
    """Index of the category that ``text`` names (case, spacing, punctuation and plural 's' ignored), else None."""
    t = normalise_name(text)
    if not t:
        return None
    for i, cat in enumerate(categories):
        if t in _name_variants(cat):
            return i
    hits = [i for i, cat in enumerate(categories) if normalise_name(cat) and normalise_name(cat) in t]
    return hits[0] if len(hits) == 1 else None


@functools.lru_cache(maxsize=1024)
def _category_pattern(name: str) -> re.Pattern:
    # Words of the name separated by any non-letters; the last word in singular or plural form.
    words = re.findall(r"[0-9A-Za-z]+", name) or [name]
    last = words[-1]
    stems = {last}
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
        if last.lower().endswith(suffix) and len(last) > len(suffix) + 1:
            stems.add(last[: -len(suffix)] + repl)
    tail = "(?:" + "|".join(re.escape(s) for s in sorted(stems, key=len, reverse=True)) + ")"
    body = r"[^0-9A-Za-z]*".join([re.escape(w) for w in words[:-1]] + [tail])
    return re.compile(rf"(?<![0-9A-Za-z]){body}(?:e?s)?(?![0-9A-Za-z])", re.IGNORECASE)


@dataclass
class ParsedRows:
    """Stimulus rows read from one response, and what was rejected."""

    values: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)
    prose_lines: int = 0


def clean_line(line: str) -> str:
    """Remove markdown and a leading row number ("1:", "1.", "Stimulus 1:", "- ")."""
    line = _MARKUP.sub(" ", line).strip()
    line = re.sub(r"^[-•]\s+", "", line)
    line = line.strip("|").strip()
    return _INDEX.sub("", line, count=1).strip()


def parse_row(line: str, n_features: int, categories: list[str]) -> tuple[list[float], int] | str:
    """One response line -> ``(values, label index)`` or a rejection reason."""
    raw = line
    line = clean_line(line)
    # The label: the right-most mention of either category name.
    best = None
    for i, cat in enumerate(categories):
        for m in _category_pattern(cat).finditer(line):
            if best is None or m.start() > best[1].start():
                best = (i, m)
    if best is not None:
        label = best[0]
        rest = line[: best[1].start()] + " " + line[best[1].end():]
    else:
        # No category name: the last field without a number is the would-be label.
        fields = [f.strip() for f in _FIELD_SPLIT.split(line) if f.strip()]
        words = [f for f in fields if not _NUMBER.search(f) and re.search(r"[A-Za-z]", f)]
        if not words:
            return UNPARSEABLE
        label = match_category(words[-1], categories)  # e.g. "Good Weather" for "goodweather"
        if label is None:
            return UNKNOWN_LABEL
        cut = line.rfind(words[-1])
        rest = line[:cut] + " " + line[cut + len(words[-1]):]
    rest = re.sub(r"(?:->|=>|→|:)\s*$", "", rest.strip())
    fields = [f for f in _FIELD_SPLIT.split(rest.replace("[", ",").replace("]", ",")
                                             .replace("(", ",").replace(")", ",")) if f.strip()]
    numeric = [f for f in fields if _NUMBER.search(f)]
    if len(numeric) >= 2 or (len(numeric) == 1 and n_features == 1):
        # Comma-separated fields: one number per field (its first), so units such as "5 cm" or "m2" stay out.
        values = [float(_NUMBER.search(f).group()) for f in numeric]
    else:
        values = [float(v) for v in _NUMBER.findall(rest)]  # space-separated values
    if not values:
        return UNPARSEABLE
    if len(values) == n_features + 1 and float(values[0]).is_integer() and values[0] >= 1 \
            and not _INDEX.match(_MARKUP.sub(" ", raw).strip()):
        values = values[1:]  # "8, 5.0, 3.0, 2.0, fruits": the row number given as a first field
    if len(values) != n_features:
        return WRONG_FEATURES
    return values, label


def parse_rows(text: str, n_features: int, categories: list[str]) -> ParsedRows:
    """All stimulus rows in a response; exact repeats of a row (values and label) count as duplicates."""
    out = ParsedRows()
    seen = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        if not re.search(r"\d", line):
            out.prose_lines += 1
            continue
        result = parse_row(line, n_features, categories)
        if isinstance(result, str):
            out.rejected[result] += 1
            continue
        values, label = result
        key = (tuple(values), label)
        if key in seen:
            out.rejected[DUPLICATE] += 1
            continue
        seen.add(key)
        out.values.append(values)
        out.labels.append(label)
    return out


def task_rejection(rows: ParsedRows, min_rows: int) -> str | None:
    """Why a parsed task cannot be used (``too few rows``, ``one class only``), or None if it is usable."""
    if len(rows.values) < min_rows:
        return TOO_FEW
    if len(set(rows.labels)) < 2:
        return ONE_CLASS
    return None


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def row_grammar(n_features: int, categories: list[str], n_rows: int, balanced: bool = True) -> str:
    """A GBNF grammar for exactly ``n_rows`` lines "k: v1, ..., vD, label", the format :func:`parse_rows` reads,
    for constrained decoding with llama.cpp.

    ``balanced``: the first half of the rows carry the first category and the rest the second, so the model
    generates feature values *for* a given category (p(x | y)).  Without it the model also picks each label,
    and tiny models then almost always repeat one label for every row (measured with SmolLM2-135M: one class
    only in most tasks).  Row order does not matter downstream: training shuffles trials within each task.
    """
    values = ' ", " '.join(["num"] * n_features)
    first = (n_rows + 1) // 2
    rows = []
    for k in range(1, n_rows + 1):
        label = ("label0" if k <= first else "label1") if balanced else "label"
        rows.append(f'"{k}: " {values} ", " {label} "\\n"')
    a, b = (_gbnf_literal(c) for c in categories)
    return (f"root ::= {' '.join(rows)}\n"
            f"label ::= {a} | {b}\nlabel0 ::= {a}\nlabel1 ::= {b}\n"
            'num ::= "-"? [0-9] [0-9]? [0-9]? ("." [0-9] [0-9]?)?\n')


def labels_grammar(n_features: int, n_sets: int) -> str:
    """A GBNF grammar for ``n_sets`` numbered lines of ``n_features + 2`` short lower-case names (the step-1
    format :func:`parse_label_sets` reads), for constrained decoding with llama.cpp."""
    items = ' ", " '.join(["name"] * (n_features + 2))
    lines = " ".join(f'"{k}. " {items} "\\n"' for k in range(1, n_sets + 1))
    return f"root ::= {lines}\nname ::= [a-z] [a-z]+ (\" \" [a-z] [a-z]+)?\n"


@dataclass
class ParsedLabels:
    """Label sets (feature names, two category names) read from a step-1 response."""

    sets: list[tuple[list[str], list[str]]] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)


def parse_label_sets(text: str, n_features: int) -> ParsedLabels:
    """Lines "features..., category 1, category 2" -> label sets; the last two items are the categories."""
    out = ParsedLabels()
    seen = set()
    for line in text.splitlines():
        line = clean_line(line)
        if "," not in line:
            continue  # prose or a heading
        items = [re.sub(r"\s+", " ", i).strip(" .'\"") for i in line.split(",")]
        if any(not i for i in items) or any(len(i) > 40 for i in items):
            out.rejected[UNPARSEABLE] += 1
            continue
        if len(items) != n_features + 2:
            out.rejected[WRONG_FEATURES] += 1
            continue
        features, cats = items[:-2], items[-2:]
        if normalise_name(cats[0]) == normalise_name(cats[1]):
            out.rejected[ONE_CLASS] += 1
            continue
        key = tuple(normalise_name(i) for i in items)
        if key in seen:
            out.rejected[DUPLICATE] += 1
            continue
        seen.add(key)
        out.sets.append((features, cats))
    return out
