"""Loaders for the human data of Lake & Baroni (2023) (``brendenlake/MLC`` ``data_human/``), bundled here.

Episode files have three sections, ``*SUPPORT*``, ``*QUERY*`` and ``*GRAMMAR*``; item lines read
``IN: <tokens> OUT: <tokens>`` and grammar lines ``LHS -> RHS`` (blank lines ignored).  Three kinds:

- ``few_shot/val_gold/mini_scan.txt``: the gold episode (14 study items, 10 queries, the gold grammar).
- ``few_shot/val_behavior/00..09.txt``: one file per query, all human responses to it (217 in all, n = 25).
- ``open_ended/00..28.txt``: one file per participant of the open-ended task, 7 responses each; colours are
  ``color:#hex;`` tokens, translated here to the model's colour names (the original's order of hex codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mlcog.tasks.biml import Grammar, GrammarError

GOLD_INPUT_TOKENS = ("1", "2", "3", "DAX", "thrice", "surround", "after")
GOLD_OUTPUT_TOKENS = ("1", "2", "3", "DAX")
UNDEFINED = "undefined_action"
# The six response colours of the open-ended experiment (CSS hex) -> output symbols of the model.
HEX_COLOURS = {"#ff0000": "RED", "#b7b600": "YELLOW", "#33cc33": "GREEN", "#0000ff": "BLUE",
               "#00b0b3": "PURPLE", "#ce9fcf": "PINK"}
# Held-out participants of the five cross-validation folds of the open-ended task (open_ended_cross{k}/val).
OPEN_ENDED_FOLDS = {1: (2, 8, 13, 14, 15, 22), 2: (4, 17, 19, 21, 25, 26), 3: (0, 9, 12, 16, 20, 28),
                    4: (3, 5, 7, 11, 23, 24), 5: (1, 6, 10, 18, 27)}

Pair = tuple[tuple[str, ...], tuple[str, ...]]


class EpisodeFileError(ValueError):
    """A malformed episode file (the message names the file, the line and what was expected)."""


@dataclass
class EpisodeFile:
    path: str
    study: list[Pair] = field(default_factory=list)
    queries: list[Pair] = field(default_factory=list)
    grammar: Grammar | None = None


def compositional_dir() -> Path:
    return Path(str(resources.files("mlcog") / "data" / "files" / "compositional"))


def read_episode_file(path: str | Path) -> EpisodeFile:
    """Parse one episode file, raising :class:`EpisodeFileError` with file and line on anything unexpected."""
    path = Path(path)
    if not path.is_file():
        raise EpisodeFileError(f"{path}: no such episode file")
    ep = EpisodeFile(str(path))
    section, seen, grammar_lines = None, set(), []
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line in ("*SUPPORT*", "*QUERY*", "*GRAMMAR*"):
            if line in seen:
                raise EpisodeFileError(f"{path}:{lineno}: section {line} appears twice")
            seen.add(line)
            section = line
            continue
        if section is None:
            raise EpisodeFileError(f"{path}:{lineno}: expected a section header (*SUPPORT*, *QUERY*, *GRAMMAR*), "
                                   f"got {line!r}")
        if section == "*GRAMMAR*":
            grammar_lines.append((lineno, line))
            continue
        if not line.startswith("IN: ") or line.count(" OUT: ") != 1:
            raise EpisodeFileError(f"{path}:{lineno}: expected 'IN: <tokens> OUT: <tokens>', got {line!r}")
        x, y = line[len("IN: "):].split(" OUT: ")
        if not x.split() or not y.split():
            raise EpisodeFileError(f"{path}:{lineno}: empty input or output in {line!r}")
        (ep.study if section == "*SUPPORT*" else ep.queries).append((tuple(x.split()), tuple(y.split())))
    missing = {"*SUPPORT*", "*QUERY*", "*GRAMMAR*"} - seen
    if missing:
        raise EpisodeFileError(f"{path}: missing section(s) {sorted(missing)}")
    if grammar_lines:
        try:
            ep.grammar = Grammar.from_lines([line for _, line in grammar_lines])
        except GrammarError as exc:
            raise EpisodeFileError(f"{path} (grammar, lines {grammar_lines[0][0]}-{grammar_lines[-1][0]}): "
                                   f"{exc}") from exc
    return ep


def _check_tokens(ep: EpisodeFile, allowed_in, allowed_out) -> None:
    for kind, pairs in (("study", ep.study), ("query", ep.queries)):
        for i, (x, y) in enumerate(pairs):
            bad = [t for t in x if t not in allowed_in] + [t for t in y if t not in allowed_out]
            if bad:
                raise EpisodeFileError(f"{ep.path}: {kind} item {i + 1} has unexpected token(s) {bad}; expected "
                                       f"inputs from {sorted(allowed_in)} and outputs from {sorted(allowed_out)}")


def load_gold_episode(path: str | Path | None = None) -> EpisodeFile:
    """The MiniSCAN gold episode: 14 study items, 10 queries with gold outputs, and the gold grammar."""
    ep = read_episode_file(path or compositional_dir() / "few_shot" / "val_gold" / "mini_scan.txt")
    _check_tokens(ep, GOLD_INPUT_TOKENS, GOLD_OUTPUT_TOKENS)
    if ep.grammar is None:
        raise EpisodeFileError(f"{ep.path}: the gold episode needs a *GRAMMAR* section")
    for i, (x, y) in enumerate(ep.study + ep.queries):
        if ep.grammar.interpret(x) != y:
            raise EpisodeFileError(f"{ep.path}: item {i + 1} {' '.join(x)} -> {' '.join(y)} disagrees with the "
                                   f"file's grammar ({ep.grammar.interpret(x)})")
    return ep


def load_few_shot_human(directory: str | Path | None = None) -> list[EpisodeFile]:
    """The 10 human-response files (one query each; 217 responses). ``undefined_action`` is kept as a token."""
    directory = Path(directory) if directory else compositional_dir() / "few_shot" / "val_behavior"
    files = sorted(directory.glob("*.txt"))
    if len(files) != 10:
        raise EpisodeFileError(f"{directory}: expected 10 response files 00.txt..09.txt, found {len(files)}")
    eps = []
    for f in files:
        ep = read_episode_file(f)
        _check_tokens(ep, GOLD_INPUT_TOKENS, GOLD_OUTPUT_TOKENS + (UNDEFINED,))
        if len({x for x, _ in ep.queries}) != 1:
            raise EpisodeFileError(f"{f}: expected every response to answer the same query")
        eps.append(ep)
    return eps


def load_open_ended(directory: str | Path | None = None) -> list[EpisodeFile]:
    """The 29 open-ended participants (7 responses each), colours as the model's output symbols."""
    directory = Path(directory) if directory else compositional_dir() / "open_ended"
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise EpisodeFileError(f"{directory}: no open-ended response files")
    eps = []
    for f in files:
        ep = read_episode_file(f)
        queries = []
        for i, (x, y) in enumerate(ep.queries):
            colours = []
            for tok in y:
                hexcode = tok.removeprefix("color:").removesuffix(";")
                if not tok.startswith("color:") or hexcode not in HEX_COLOURS:
                    raise EpisodeFileError(f"{f}: response {i + 1}: token {tok!r} is not one of the colours "
                                           f"color:<hex>; with hex in {sorted(HEX_COLOURS)}")
                colours.append(HEX_COLOURS[hexcode])
            queries.append((x, tuple(colours)))
        if len(queries) != 7 or len({w for x, _ in queries for w in x}) != 5:
            raise EpisodeFileError(f"{f}: expected 7 responses over 5 distinct words, got {len(queries)} over "
                                   f"{len({w for x, _ in queries for w in x})}")
        ep.queries = queries
        eps.append(ep)
    return eps
