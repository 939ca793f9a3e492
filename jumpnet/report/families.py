"""Which tests are the study's claims: the primary family a preset declares (``plan.primary``), and the rest.

A study powered for a few comparisons (``make plan``: JumpNet ``full`` vs ``no_links`` and vs ``add_matched``, or
the equal-budget ranking of the families) makes its claims there: Holm's adjustment runs over that family alone,
and only its tests get stars. Every other comparison is exploratory: its interval and raw p-value are shown,
never a star, and it never dilutes the primary family. Runs whose preset declared no family (ad-hoc sweeps,
runs from before ``plan.primary``) keep one family of every comparison in the table.
"""
from __future__ import annotations

import pandas as pd

from jumpnet.config.schema import primary_family

PRIMARY, EXPLORATORY, ALL = "primary", "exploratory", "all"


def comparison_families(arms: pd.DataFrame, declared: list[str]) -> pd.Series:
    """Each arm's family as a comparison with its ``full`` arm: primary, exploratory, all (none declared), or ''
    (a ``full`` arm, compared with nothing)."""
    pairs, _ = primary_family(declared)
    chosen = set(pairs)

    def family(model: object, variant: object) -> str:
        if str(variant) == "full":
            return ""
        if not declared:
            return ALL
        return PRIMARY if (str(model), str(variant)) in chosen else EXPLORATORY

    return pd.Series([family(m, v) for m, v in zip(arms["model"], arms["ablation"])], index=arms.index, dtype=object)


def ranking_family(declared: list[str]) -> str:
    """The family of Table 3's tests (best family vs runner-up at each budget)."""
    _, ranking = primary_family(declared)
    return ALL if not declared else PRIMARY if ranking else EXPLORATORY


def describe(declared: list[str]) -> str:
    """The declared primary family in words, for captions and the README."""
    pairs, ranking = primary_family(declared)
    parts = [f"{model} {variant} vs full" for model, variant in pairs] + (["the equal-budget ranking"] * ranking)
    return ", ".join(parts) if parts else "none declared"
