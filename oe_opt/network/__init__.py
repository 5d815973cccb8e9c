"""network: the only room that talks to a power-flow engine.

Modules
-------
base
    The door: :class:`~oe_opt.network.base.NetworkEngine` (a ``typing.Protocol``:
    names, injection setters, ``solve``, ``read_state``, ``reset_solution`` and the
    optional ``matrices()``, ``topology()``, ``time_series()``), the data it hands out
    (:class:`~oe_opt.network.base.NetworkState`,
    :class:`~oe_opt.network.base.NetworkMatrices`) and
    :class:`~oe_opt.network.base.EngineCapabilityError`.
opendss
    :class:`~oe_opt.network.opendss.DssNetwork`, the OpenDSS engine: compile, batch
    setters, bulk state readers, the 1e-8 pu solution tolerance.
opendss_matrices, opendss_topology, opendss_loadshapes
    Its optional capabilities: the linear network model (Y from ``Yprim``, current
    maps, injection nodes), supply paths, and the loadshapes read into
    :class:`~oe_opt.inputs.timeseries.NetworkProfiles`.

Adding an engine
----------------
Write a class with the required names of :class:`~oe_opt.network.base.NetworkEngine`
(no base class needed); return None from the optional capabilities it lacks.  Without
``matrices()`` the optimiser uses finite-difference sensitivities (perturbation power
flows, on the voltages and loadings of ``read_state()``); without ``topology()`` the
heuristic needs ``thermal_rule="all"``; without ``time_series()`` studies need profile
files.  Engines with controls (a power flow is a control loop, e.g. OpenDSS InvControls)
may also offer ``has_controls``, ``reset_controls()`` (called at every period by the
evaluator) and ``solve_without_controls()`` (the screening solve of
:meth:`~oe_opt.methods.evaluator.PowerFlowEvaluator.screen`); without them there is no
screening and every solve is a full one.  Nothing outside this package may import the engine's library or reach into the
engine object's private state (``tests/test_layout.py`` checks it).
"""
