"""Registry of envelope methods.

A method factory takes ``(study, net, case)`` and returns a callable
``solve(evaluator, direction) -> SearchResult`` for the evaluator's current
period.  Factories register themselves with :func:`register`; the CLI and
:mod:`oe_opt.chain` look them up by name.
"""

from __future__ import annotations

from typing import Callable

from .case import DayCase
from .evaluator import PowerFlowEvaluator
from .network import DssNetwork
from .search import SearchResult, bisect_search, step_search
from .study import Study

Solve = Callable[[PowerFlowEvaluator, str], SearchResult]
Factory = Callable[[Study, DssNetwork, DayCase], Solve]

METHODS: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: register a method factory under `name`."""

    def deco(factory: Factory) -> Factory:
        METHODS[name] = factory
        return factory

    return deco


def cap_kw(study: Study, direction: str) -> float:
    """The study's envelope cap (kW) in `direction`."""
    return getattr(study.envelope, f"{direction}_max_kw")


@register("step")
def _step(study: Study, net: DssNetwork, case: DayCase) -> Solve:
    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        return step_search(lambda x: ev.check_direction(direction, x), cap_kw(study, direction),
                           study.envelope.step_kw)

    return solve


@register("bisect")
def _bisect(study: Study, net: DssNetwork, case: DayCase) -> Solve:
    def solve(ev: PowerFlowEvaluator, direction: str) -> SearchResult:
        return bisect_search(lambda x: ev.check_direction(direction, x), cap_kw(study, direction),
                             study.envelope.tolerance_kw)

    return solve


def get_method(name: str) -> Factory:
    """The factory registered as `name`.

    Raises
    ------
    KeyError
        Listing the known methods.
    """
    _load_optional_methods()
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def _load_optional_methods() -> None:
    """Import the modules that register further methods (LP, allocation, heuristics)."""
    import importlib

    for mod in ("oe_opt.optimise", "oe_opt.heuristic"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
