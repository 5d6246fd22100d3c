"""One module per strategy; this package finds them, so adding one touches one module.

Each strategy module defines `STRATEGY` (a `Strategy` member) and
`plan(options: StrategyOptions) -> WorkspacePlan`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from ..strategy import Strategy
from .spec import StrategyError, StrategyOptions, WorkspacePlan

Planner = Callable[[StrategyOptions], WorkspacePlan]


def _discover() -> dict[Strategy, Planner]:
    planners: dict[Strategy, Planner] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        strategy = getattr(module, "STRATEGY", None)
        if strategy is not None:
            planners[Strategy(strategy)] = module.plan
    return planners


PLANNERS: dict[Strategy, Planner] = _discover()

_missing = set(Strategy) - set(PLANNERS)
if _missing:  # a Strategy member without a module is a packaging bug, not a user error
    raise ImportError(f"no strategy module for {sorted(s.value for s in _missing)}")


def plan(strategy: Strategy | str, options: StrategyOptions | None = None) -> WorkspacePlan:
    """The plan for `strategy`, raising StrategyError naming the field on bad input."""
    try:
        key = Strategy(strategy)
    except ValueError:
        allowed = ", ".join(s.value for s in Strategy)
        raise StrategyError("strategy", f"unknown strategy {strategy!r}; use one of: {allowed}") from None
    return PLANNERS[key](options or StrategyOptions())


__all__ = ["PLANNERS", "StrategyError", "StrategyOptions", "WorkspacePlan", "plan"]
