"""Versioned prompt templates for two-step category-task generation (task labels, then task data).

These are mlcog's own wording, modelled on the ERMI paper's procedure (a psychologist planning a category-learning
experiment asks first for feature and category names, then for stimuli).  A template is never edited once data
has been generated with it: a change gets a new version, and the version is stored with every generated file and
is part of the response-cache key, so files made with different wordings are never mixed up.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMPT_VERSION = "mlcog-v1"


@dataclass(frozen=True)
class PromptTemplates:
    """One version of the two prompts; ``{placeholders}`` are filled by :func:`labels_prompt`/:func:`data_prompt`."""

    version: str
    labels: str
    data: str


TEMPLATES: dict[str, PromptTemplates] = {
    "mlcog-v1": PromptTemplates(
        version="mlcog-v1",
        labels=(
            "I am a psychologist planning category-learning experiments. In each experiment, people see "
            "stimuli that are described by {dims} feature dimensions, and each stimulus belongs to one of two "
            "real-world categories. Please suggest {n_tasks} different experiments. For each experiment give "
            "the names of the {dims} feature dimensions and the names of the two categories, one experiment per "
            "numbered line, in exactly this format:\n"
            "1. {feature_slots}, category 1, category 2\n"
            "Use short names of one or two words. Do not write anything else."
        ),
        data=(
            "I am a psychologist planning a category-learning experiment. Each stimulus has {dims} features: "
            "{feature_list}. Every feature takes only numerical values. Each stimulus belongs to one of two "
            "categories: {category_a} or {category_b}. The category should be predictable from the feature "
            "values, and both categories should occur. Please list {n_rows} stimuli, one per numbered line, "
            "without skipping numbers, in exactly this format:\n"
            "1: {value_slots}, category label\n"
            "Do not write anything else."
        ),
    ),
}


def templates(version: str = PROMPT_VERSION) -> PromptTemplates:
    if version not in TEMPLATES:
        raise ValueError(f"unknown prompt version {version!r}; known versions: {sorted(TEMPLATES)}")
    return TEMPLATES[version]


def labels_prompt(dims: int, n_tasks: int, version: str = PROMPT_VERSION) -> str:
    """Step 1: ask for ``n_tasks`` label sets (``dims`` feature names and two category names each)."""
    if not 1 <= dims <= 20:
        raise ValueError(f"dims must be in 1..20, got {dims}")
    slots = ", ".join(f"feature {i + 1}" for i in range(dims))
    return templates(version).labels.format(dims=dims, n_tasks=n_tasks, feature_slots=slots)


def data_prompt(features: list[str], categories: list[str], n_rows: int, version: str = PROMPT_VERSION) -> str:
    """Step 2: ask for ``n_rows`` stimuli with numeric values for ``features`` and one of two ``categories``."""
    if len(categories) != 2:
        raise ValueError(f"need exactly two category names, got {categories}")
    if not features:
        raise ValueError("need at least one feature name")
    values = ", ".join(f"value {i + 1}" for i in range(len(features)))
    return templates(version).data.format(
        dims=len(features), feature_list=", ".join(features), category_a=categories[0], category_b=categories[1],
        n_rows=n_rows, value_slots=values)
