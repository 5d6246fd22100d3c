"""One module per strategy, each named in STRATEGY_MODULES: adding a strategy is one module and one line.

Each strategy module defines `STRATEGY` (a `Strategy` member) and
`plan(options: StrategyOptions) -> WorkspacePlan`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType

from ..strategy import Strategy
from .spec import StrategyError, StrategyOptions, WorkspacePlan

Planner = Callable[[StrategyOptions], WorkspacePlan]

STRATEGY_MODULES = (
    "dood",
    "dind",
    "dind_sidecar",
    "dind_rootless",
    "sysbox",
    "envbox",
    "podman",
    "dind_userns",
)
"""The registry: every strategy module of this package, by name (tests/test_strategies.py checks it is complete)."""


def _planners(modules: Iterable[ModuleType]) -> dict[Strategy, Planner]:
    planners: dict[Strategy, Planner] = {}
    owners: dict[Strategy, str] = {}
    for module in modules:
        strategy = Strategy(module.STRATEGY)
        if strategy in planners:  # two modules for one strategy is a packaging bug, not a user error
            raise ImportError(f"strategy {strategy.value} has two modules: {owners[strategy]} and {module.__name__}")
        planners[strategy], owners[strategy] = module.plan, module.__name__
    missing = set(Strategy) - set(planners)
    if missing:  # so is a Strategy member without a module
        raise ImportError(f"no strategy module for {sorted(s.value for s in missing)}")
    return planners


PLANNERS: dict[Strategy, Planner] = _planners(importlib.import_module(f".{m}", __name__) for m in STRATEGY_MODULES)


def plan(strategy: Strategy | str, options: StrategyOptions | None = None) -> WorkspacePlan:
    """The plan for `strategy`, raising StrategyError naming the field on bad input."""
    try:
        key = Strategy(strategy)
    except ValueError:
        allowed = ", ".join(s.value for s in Strategy)
        raise StrategyError("strategy", f"unknown strategy {strategy!r}; use one of: {allowed}") from None
    return PLANNERS[key](options or StrategyOptions())


__all__ = ["PLANNERS", "STRATEGY_MODULES", "StrategyError", "StrategyOptions", "WorkspacePlan", "plan"]
