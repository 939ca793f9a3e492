"""Exact-budget arms: the ``model.width_mult`` at which a family's ``full`` arm has a given parameter count.

``experiment=budget`` compares families at equal budgets (Table 3). Interpolating between widths chosen by
hand assumes accuracy is linear in log-params between them; training each family *at* the budget needs no such
assumption. The widths in ``conf/experiment/budget.yaml`` are solved here, with the matcher's own solver
(``jumpnet.models.matching.solve_width``: budgets are step functions of the width; bracket, then bisect to the
nearest step) to ``plan.budgets`` within its 2%; ``tests/test_budget.py`` solves them again and checks the
preset. ``python -m jumpnet.describe model=X model.width_mult=W`` prints what each one builds.
"""
from __future__ import annotations

from jumpnet.config.compose import compose_config
from jumpnet.models.factory import check_model
from jumpnet.models.matching import FULL, WidthSolve, solve_width, tidy


def budget_width(overrides: list[str], target: int, what: str = "params") -> WidthSolve:
    """The width at which the ``full`` arm of the model ``overrides`` select costs ``target`` (params or MACs)."""
    spec = check_model(compose_config([*overrides, "ablation=full"]))
    solved, value = solve_width(lambda width: spec.at(width, FULL).costs(what), target, 1.0)
    return WidthSolve(what, target, tidy(solved, spec.widths), value, value / target)
