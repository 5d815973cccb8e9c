"""Registry of envelope methods.

A method factory takes ``(problem, net, case)`` — the
:class:`~oe_opt.problem.EnvelopeProblem`, the compiled network and the day
case — and returns a callable ``solve(evaluator, direction) -> SearchResult``
for the evaluator's current period.  Factories register themselves with
:func:`register`; :mod:`oe_opt.runs.day` looks them up by name.  Importing
:mod:`oe_opt.methods` registers every method of the package.
"""

from __future__ import annotations

from typing import Callable

from oe_opt.inputs.case import DayCase
from oe_opt.methods.evaluator import PowerFlowEvaluator
from oe_opt.network.base import NetworkEngine
from oe_opt.methods.result import SearchResult
from oe_opt.problem import EnvelopeProblem

Solve = Callable[[PowerFlowEvaluator, str], SearchResult]
Factory = Callable[[EnvelopeProblem, NetworkEngine, DayCase], Solve]

METHODS: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: register a method factory under `name`."""

    def deco(factory: Factory) -> Factory:
        METHODS[name] = factory
        return factory

    return deco


def method_names() -> tuple[str, ...]:
    """Names of the registered methods, sorted."""
    return tuple(sorted(METHODS))


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

