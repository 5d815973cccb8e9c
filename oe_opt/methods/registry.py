"""Registry of envelope methods.

A method factory takes ``(study, net, case)`` and returns a callable
``solve(evaluator, direction) -> SearchResult`` for the evaluator's current
period.  Factories register themselves with :func:`register`; the CLI and
:mod:`oe_opt.runs.day` look them up by name.
"""

from __future__ import annotations

from typing import Callable

from oe_opt.inputs.case import DayCase
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.network.opendss import DssNetwork
from oe_opt.methods.result import SearchResult
from oe_opt.study import Study

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


def get_method(name: str) -> Factory:
    """The factory registered as `name`.

    Raises
    ------
    KeyError
        Listing the known methods.
    """
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[name]

