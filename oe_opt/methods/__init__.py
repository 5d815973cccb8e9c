"""Envelope methods: the registry, the evaluator every method verifies through, the searches
(step, bisect), the optimised methods (lp, alloc: the successive LP, lp's fast core and the
any-use worst-corner loop) and the power-flow heuristic.

Importing this package registers every method (plain imports below), so
:func:`oe_opt.methods.registry.get_method` knows them all.
"""

from oe_opt.methods import heuristic, optimised, search  # noqa: F401  (register the methods)
