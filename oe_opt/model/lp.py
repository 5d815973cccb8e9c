"""The envelope linear programme: formulated in Pyomo, solved with HiGHS.

:class:`EnvelopeLP` holds one LP that is built once and updated for every
linearisation (period, direction, iteration).  Its variables and rows::

    x_i   in [0, cap_i]     envelope of flexible customer i (kW)
    t     >= t_min          common level (equal allocation, maxmin)
    lam   >= 0              scale of proportional allocation
    z_i   free              piecewise-linear log(x_i) (log_fair)
    dp_i, dm_i >= 0         distance above / below the anchor (tie-break)

    lim_k :  sum_i A_ki x_i <= b_k              linearised network limits (k < n_constraints)
    tie_i :  tie_lo <= x_i - t <= tie_hi        = 0: equal;  >= 0: maxmin;  free: off
    prop_i:  prop_lo <= x_i - w_i lam <= prop_hi = 0: proportional;  free: off
    cut_ip:  z_i - x_i / a_ip <= log(a_ip) - 1   tangents of log at breakpoints a_ip
    anc_i :  anc_lo <= x_i - dp_i + dm_i <= anc_hi   = anchor_i: tie-break on;  free: off

    maximise  c_x . x + c_t t + c_lam lam + c_z . z - c_d sum(dp + dm)

API (for the allocation objectives and anyone adding new ones)
--------------------------------------------------------------
``lp = EnvelopeLP(n_customers, n_constraints)``
    Build once (Pyomo model + HiGHS instance).
``lp = EnvelopeLP(n_customers, n_constraints, n_extra=k)``
    With room for ``k`` further rows ``C x <= d`` of your own
    (``lp.set_extra_rows(C, d)``; kept through every update), e.g. a
    limit on the total.
``lp.update(A, b, caps=None, lower=None, upper=None)``
    New linearised limits ``A x <= b`` (``A`` shape (m, n) with m <=
    n_constraints, ``b`` shape (m,)), optionally new caps (kW) and a box
    ``lower <= x <= upper`` inside ``[0, caps]`` (a trust region).  In the
    optimiser, row k of ``A`` is the change of a monitored quantity's
    (signed) limit usage per kW of each customer's envelope and ``b`` the
    remaining headroom plus ``A x0`` at the linearisation point.
``lp.solve_equal()``, ``lp.solve_max_total()``, ``lp.solve_maxmin()``,
``lp.solve_proportional(weights)``, ``lp.solve_log_fair()``
    The five allocation objectives (the registry
    :mod:`oe_opt.model.allocations` names them and dispatches by name).
    ``solve_maxmin`` is lexicographic: max t s.t. x_i >= t, then max sum(x) with t fixed at its optimum (two LP solves).
    ``solve_log_fair`` maximises sum(z_i) with z_i below the tangents of
    log(x_i) at geometric breakpoints from cap_i/1000 to cap_i (set your own
    with ``set_log_breakpoints``).
``lp.set_anchor(x0, weight)``
    Tie-break kept through every solve until changed (``set_anchor(None)``):
    among (nearly) equally good solutions the one closest to ``x0`` (kW) in
    the 1-norm, by subtracting ``weight * sum|x_i - x0_i|`` from the
    objective (``weight`` per kW, far below the objective's own rates, so
    only ties and near-ties are decided by it; reported objectives include
    the term).
Generic hook (what the named objectives are made of):
    ``lp.set_tie(None | "equal" | "min")``, ``lp.set_proportional(weights | None)``,
    ``lp.set_cuts(on)`` (log tangent cuts; off by default, their rows free),
    ``lp.set_objective(x=..., t=..., lam=..., z=...)``, ``lp.set_t_min(v)``,
    then ``lp.solve()``.  Each returns an :class:`LPSolution` (``x`` kW,
    ``t``, ``lam``, ``objective``, ``status``, ``n_solves``,
    ``binding_rows``: indices of the ``lim`` rows at their bound).

Backends
--------
The model is always formulated in Pyomo (:func:`build_model`, mutable Params
for everything that changes).  Two ways to drive HiGHS:

``backend="highspy"`` (default)
    The Pyomo model is compiled once into a ``highspy.Highs`` instance
    (:func:`compile_to_highs`, from Pyomo's standard linear representation of
    every row and the objective), then updated in place with vectorised
    highspy calls: ``changeColsBounds`` (caps), ``changeRowsBounds`` (modes),
    ``changeColsCost`` (objective), ``changeCoeff`` (weights, breakpoints) and,
    for the ``lim`` block, ``deleteRows`` + ``addRows`` of only the rows that
    can bind within the caps (box-redundant rows are dropped).
    :meth:`EnvelopeLP.sync_pyomo` writes the current data back into the
    Pyomo Params (e.g. to write the LP to a file).
``backend="appsi"``
    Pure Pyomo: set the mutable Params and re-solve with the persistent
    ``pyomo.contrib.appsi.solvers.Highs`` interface (only parameter updates
    enabled in its ``update_config``).

The direct path is the default because it is much cheaper per solve
(measured in ``benchmarks/lp_backends.py``, results in
``benchmarks/results/lp_backends.md``); ``appsi`` is kept for
cross-checking (the tests solve the same problems with both).  A day-sized model (all 96
period-directions in one LP) does not fit the method: each period's rows
come from its own power flows and are re-linearised independently, so the
per-period model updated in place is what gets re-solved.

Numerical note: the log cut rows are made free (not just given zero cost)
when log_fair is not being solved, and the breakpoints stay within three
decades of the caps; with badly scaled inactive cuts (coefficients ~1e15)
HiGHS returned suboptimal solutions flagged optimal.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

#: rows an active-set LP starts from besides the last solution's binding rows
ACTIVE_SEED = 32
#: Param value meaning "no bound" (HiGHS treats |bounds| >= 1e20 as infinite)
BIG = 1e20
TIE_MODES = {None: (-BIG, BIG), "equal": (0.0, 0.0), "min": (0.0, BIG)}


@dataclass
class LPSolution:
    """Result of one (possibly multi-stage) LP solve.

    Attributes
    ----------
    x : ndarray
        Envelope per customer (kW); NaN if not optimal.
    t, lam : float
        Common level and proportional scale.
    objective : float
        Objective value of the last stage.
    status : str
        ``optimal``, ``infeasible``, ``unbounded`` or HiGHS's status text.
    n_solves : int
        LP solves (2 for the lexicographic maxmin).
    binding_rows : ndarray of int
        ``lim`` rows within 1e-7 of their bound at ``x``.
    """

    x: np.ndarray
    t: float
    lam: float
    objective: float
    status: str
    n_solves: int = 1
    binding_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @property
    def ok(self) -> bool:
        return self.status == "optimal"


def initial_breakpoints(n_breakpoints: int) -> np.ndarray:
    """The log tangent points a new model starts with (per unit cap: 1e-3 to 1, geometric)."""
    return np.array([10.0 ** (3 * (p + 1 - n_breakpoints) / max(n_breakpoints - 1, 1))
                     for p in range(n_breakpoints)])


def build_model(n_customers: int, n_constraints: int, n_breakpoints: int, lean: bool = False):
    """The envelope LP as a Pyomo ``ConcreteModel`` with mutable Params (see module docstring).

    `lean`: the variables ``x`` and the rows ``lim`` only, maximising ``c_x . x`` (the
    max_total LP without the other objectives' variables and rows, which are free when
    unused but cost the simplex time: see :class:`EnvelopeLP`'s ``lean``)."""
    import pyomo.environ as pyo

    m = pyo.ConcreteModel(name="envelope_lp_lean" if lean else "envelope_lp")
    m.I = pyo.RangeSet(0, n_customers - 1)
    m.K = pyo.RangeSet(0, n_constraints - 1)
    par = dict(mutable=True, domain=pyo.Reals)
    m.A = pyo.Param(m.K, m.I, initialize=0.0, **par)
    m.b = pyo.Param(m.K, initialize=BIG, **par)
    m.x_lo = pyo.Param(m.I, initialize=0.0, **par)
    m.x_hi = pyo.Param(m.I, initialize=0.0, **par)
    m.cx = pyo.Param(m.I, initialize=0.0, **par)
    m.x = pyo.Var(m.I, bounds=lambda mm, i: (mm.x_lo[i], mm.x_hi[i]))
    obj = sum(m.cx[i] * m.x[i] for i in m.I)
    if not lean:
        obj = obj + _add_other_objectives(m, n_breakpoints, par)
    # the limit rows last: EnvelopeLP keeps them as the last rows of HiGHS's LP
    m.lim = pyo.Constraint(m.K, rule=lambda mm, k:
                           sum(mm.A[k, i] * mm.x[i] for i in mm.I) <= mm.b[k])
    m.obj = pyo.Objective(expr=obj, sense=pyo.maximize)
    return m


def _add_other_objectives(m, n_breakpoints: int, par: dict):
    """The variables, rows and Params of every objective but max_total (the common level
    ``t``, the proportional scale ``lam``, the log cuts ``z``, the anchor ``dp``/``dm``) into
    `m`; returns their part of the objective."""
    import pyomo.environ as pyo

    bp0 = initial_breakpoints(n_breakpoints)
    m.P = pyo.RangeSet(0, n_breakpoints - 1)
    m.w = pyo.Param(m.I, initialize=1.0, **par)
    m.bp = pyo.Param(m.I, m.P, initialize=lambda _, i, p: float(bp0[p]), **par)
    m.cut_off = pyo.Param(initialize=BIG, **par)  # 0: cuts on (log_fair), BIG: off
    m.tie_lo = pyo.Param(m.I, initialize=-BIG, **par)
    m.tie_hi = pyo.Param(m.I, initialize=BIG, **par)
    m.prop_lo = pyo.Param(m.I, initialize=-BIG, **par)
    m.prop_hi = pyo.Param(m.I, initialize=BIG, **par)
    m.t_min = pyo.Param(initialize=0.0, **par)
    m.cz = pyo.Param(m.I, initialize=0.0, **par)
    m.ct = pyo.Param(initialize=0.0, **par)
    m.clam = pyo.Param(initialize=0.0, **par)
    m.anc_lo = pyo.Param(m.I, initialize=-BIG, **par)
    m.anc_hi = pyo.Param(m.I, initialize=BIG, **par)
    m.cd = pyo.Param(initialize=0.0, **par)

    m.t = pyo.Var(bounds=(m.t_min, None))
    m.lam = pyo.Var(bounds=(0.0, None))
    m.z = pyo.Var(m.I)
    m.dp = pyo.Var(m.I, bounds=(0.0, None))
    m.dm = pyo.Var(m.I, bounds=(0.0, None))

    m.tie = pyo.Constraint(m.I, rule=lambda mm, i: pyo.inequality(
        mm.tie_lo[i], mm.x[i] - mm.t, mm.tie_hi[i]))
    m.prop = pyo.Constraint(m.I, rule=lambda mm, i: pyo.inequality(
        mm.prop_lo[i], mm.x[i] - mm.w[i] * mm.lam, mm.prop_hi[i]))
    m.cut = pyo.Constraint(m.I, m.P, rule=lambda mm, i, p:
                           mm.z[i] - mm.x[i] / mm.bp[i, p] <= pyo.log(mm.bp[i, p]) - 1.0
                           + mm.cut_off)
    m.anc = pyo.Constraint(m.I, rule=lambda mm, i: pyo.inequality(
        mm.anc_lo[i], mm.x[i] - mm.dp[i] + mm.dm[i], mm.anc_hi[i]))
    return (sum(m.cz[i] * m.z[i] - m.cd * (m.dp[i] + m.dm[i]) for i in m.I)
            + m.ct * m.t + m.clam * m.lam)


@contextmanager
def _quiet_stdout():
    """Silence C-level writes to stdout (HiGHS prints a banner when its first instance is made)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (e.g. captured by a framework)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _new_highs():
    """A silent ``highspy.Highs``."""
    import highspy

    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def compile_to_highs(model):
    """Load a linear Pyomo model into a new ``highspy.Highs`` instance.

    Returns
    -------
    (highs, columns, rows)
        ``columns`` maps each Pyomo variable (``ComponentMap``) to its column,
        ``rows`` each constraint to its row; rows follow declaration order.
    """
    import highspy
    from pyomo.common.collections import ComponentMap
    from pyomo.core import Constraint, Objective, Var, maximize
    from pyomo.repn import generate_standard_repn

    h = _new_highs()
    variables = list(model.component_data_objects(Var, descend_into=True))
    cols = ComponentMap((v, j) for j, v in enumerate(variables))
    lb = np.array([-np.inf if v.lb is None or v.lb <= -BIG else v.lb for v in variables], float)
    ub = np.array([np.inf if v.ub is None or v.ub >= BIG else v.ub for v in variables], float)
    h.addVars(len(variables), lb, ub)
    rows = ComponentMap()
    for r, con in enumerate(model.component_data_objects(Constraint, active=True, descend_into=True)):
        repn = generate_standard_repn(con.body, compute_values=True, quadratic=False)
        if repn.nonlinear_expr is not None or repn.quadratic_vars:
            raise ValueError(f"constraint {con.name} is not linear")
        const = float(repn.constant)
        lo = -np.inf if con.lb is None or con.lb <= -BIG else float(con.lb) - const
        hi = np.inf if con.ub is None or con.ub >= BIG else float(con.ub) - const
        idx = np.array([cols[v] for v in repn.linear_vars], dtype=np.int32)
        h.addRow(lo, hi, len(idx), idx, np.array(repn.linear_coefs, dtype=float))
        rows[con] = r
    obj = next(model.component_data_objects(Objective, active=True))
    repn = generate_standard_repn(obj.expr, compute_values=True, quadratic=False)
    cost = np.zeros(len(variables))
    for v, c in zip(repn.linear_vars, repn.linear_coefs):
        cost[cols[v]] += c
    h.changeColsCost(len(variables), np.arange(len(variables), dtype=np.int32), cost)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize if obj.sense == maximize
                           else highspy.ObjSense.kMinimize)
    return h, cols, rows


#: ``_lim_kept`` of a row retired from HiGHS in place (:meth:`EnvelopeLP._append_rows`)
DEAD_ROW = -1
#: share of the rows in HiGHS that may be retired in place before the rows are rebuilt
MAX_RETIRED = 0.25
#: HiGHS's dual simplex pricing (``simplex_dual_edge_weight_strategy``) for ``open_rows``
#: LPs: 1, Devex, instead of HiGHS's choice (steepest edge).  Their rows are dense (one
#: coefficient per customer) and every update re-solves from the last basis; measured
#: (alloc max_total, one process, 2026-12-04): on the MV-LV feeder (2,110 flexible, ~2,000
#: rows) HiGHS's time 0.55-0.65 of steepest edge's for 2-4 % more iterations, alloc 0.83-0.89
#: of its time, the same envelopes; at 150-1,000 flexible the same envelopes and time
OPEN_ROWS_PRICING = 1


class EnvelopeLP:
    """The envelope LP, built once and updated in place (see the module docstring).

    Parameters
    ----------
    n_customers : int
        Number of envelope variables (1 for a single equal-allocation value).
    n_constraints : int
        Largest number of linearised limit rows passed to :meth:`update`.
    n_breakpoints : int
        Tangent cuts per customer of the piecewise-linear log (log_fair).
    backend : str
        ``highspy`` (compile once, update HiGHS directly) or ``appsi``
        (Pyomo persistent solver with mutable Params).
    equal_solver : str
        How :meth:`solve_equal` solves its one-variable LP: ``highs`` (the
        backend) or ``ratio`` (the ratio test of :func:`oe_opt.model.ratio.ratio_solve`,
        no solver call; the same optimum, tested).  With ``ratio`` the limit rows
        reach the backend only when another objective is solved.
    open_rows : bool
        A changing row set (``highspy``): the limit rows are not a block of the Pyomo
        model's Params (``n_constraints`` is only the most rows one :meth:`update` may
        pass) but live in HiGHS alone, replaced by every :meth:`update`, so a caller can
        grow its row set from one update to the next (constraint generation,
        :mod:`oe_opt.methods.row_generation`) without a dense Pyomo block of every
        possible row.  :meth:`sync_pyomo` writes the current rows into the Pyomo model
        (the ConstraintList ``lim_rows``), which stays the model of record.  An update
        that repeats the last one's rows but for a few (new rows, new bounds, up to
        :data:`MAX_RETIRED` of the rows with new coefficients, e.g. tangents) changes
        HiGHS in place and keeps its basis; any other rebuilds the rows (an alien basis).
    active_set : bool
        Constraint generation (``highspy``): HiGHS holds only the limit rows that
        bound the last solution and the ``ACTIVE_SEED`` tightest rows in the box;
        every solve adds the rows its solution violates and re-solves until none
        is violated, so the optimum is the full LP's (tested).  For many customers,
        where every row is dense (one coefficient per customer) and few bind.
    lean : bool
        ``max_total`` only (``highspy``): the model holds the variables ``x`` and the rows
        ``lim`` alone (:func:`build_model` ``lean``).  The other objectives' variables
        (``t``, ``lam``, ``z``, ``dp``, ``dm``) and rows (``tie``, ``prop``, ``cut``,
        ``anc``: 4 per customer) are free when unused, yet the simplex carries them: at
        1,000 customers a warm-started max_total solve with ~500 limit rows took ~3x as
        long with them (measured on the rows of ``alloc``'s fast core,
        :mod:`oe_opt.methods.alloc_fast`).  Anything but ``max_total`` (``solve_equal`` with
        ``equal_solver="ratio"`` excepted), an anchor or another objective raises
        ``ValueError``.
    """

    def __init__(self, n_customers: int, n_constraints: int, n_breakpoints: int = 16,
                 backend: str = "highspy", n_extra: int = 0, equal_solver: str = "highs",
                 active_set: bool = False, open_rows: bool = False, lean: bool = False):
        if n_customers < 1 or n_constraints < 0 or n_extra < 0:
            raise ValueError("EnvelopeLP needs n_customers >= 1 and n_constraints, n_extra >= 0")
        if backend not in ("highspy", "appsi"):
            raise ValueError(f"backend must be 'highspy' or 'appsi', got {backend!r}")
        if (active_set or open_rows) and backend != "highspy":
            raise ValueError("active_set and open_rows need the highspy backend")
        if lean and backend != "highspy":
            raise ValueError("lean needs the highspy backend")
        self.lean = bool(lean)
        self.open_rows = bool(open_rows)
        self.active_set = bool(active_set)
        self._active_hint = np.zeros(0, dtype=int)
        self._reach = np.zeros(0, dtype=int)
        if equal_solver not in ("highs", "ratio"):
            raise ValueError(f"equal_solver must be 'highs' or 'ratio', got {equal_solver!r}")
        self.n, self.m, self.n_bp, self.backend = n_customers, n_constraints, n_breakpoints, backend
        self.equal_solver = equal_solver
        self._rows_dirty = False
        self.n_extra = n_extra
        self._rows_cap = 0 if open_rows else max(n_constraints + n_extra, 1)
        self.model = build_model(n_customers, self._rows_cap, n_breakpoints, lean=self.lean)
        self._extra = (np.zeros((0, n_customers)), np.zeros(0))
        self._A_lim, self._b_lim = np.zeros((0, n_customers)), np.zeros(0)
        n = n_customers
        self._A = np.zeros((0, n))
        self._b = np.zeros(0)
        self._caps = np.zeros(n)
        self._lo = np.zeros(n)
        self._hi = np.zeros(n)
        self._tie = (np.full(n, -BIG), np.full(n, BIG))
        self._prop = (np.full(n, -BIG), np.full(n, BIG))
        self._w = np.ones(n)
        self._bp = np.tile(initial_breakpoints(n_breakpoints), (n, 1))    # the model's bp
        self._cuts_on = False
        self._bp_auto_caps: np.ndarray | None = None
        self._cost = dict(x=np.zeros(n), t=0.0, lam=0.0, z=np.zeros(n))
        self._anchor: tuple[np.ndarray, float] | None = None
        self._t_min = 0.0
        self.n_solves = 0
        if backend == "highspy":
            self._init_highspy()
        else:
            self._init_appsi()

    # ----------------------------------------------------------- backends
    def _init_highspy(self) -> None:
        import highspy

        m = self.model
        self._h, cols, rows = compile_to_highs(m)
        self._kopt = highspy.HighsModelStatus.kOptimal
        self._col_x = np.array([cols[m.x[i]] for i in m.I], dtype=np.int32)
        if not self.lean:
            self._col_z = np.array([cols[m.z[i]] for i in m.I], dtype=np.int32)
            self._col_t, self._col_lam = cols[m.t], cols[m.lam]
            self._col_d = np.array([cols[m.dp[i]] for i in m.I] + [cols[m.dm[i]] for i in m.I],
                                   dtype=np.int32)
            self._row_anc = np.array([rows[m.anc[i]] for i in m.I], dtype=np.int32)
            self._row_tie = np.array([rows[m.tie[i]] for i in m.I], dtype=np.int32)
            self._row_prop = np.array([rows[m.prop[i]] for i in m.I], dtype=np.int32)
            self._row_cut = np.array([[rows[m.cut[i, p]] for p in m.P] for i in m.I],
                                     dtype=np.int32)
        lim = np.array([rows[m.lim[k]] for k in m.K], dtype=np.int32)
        if len(lim) and (not np.array_equal(lim, np.arange(lim[0], lim[0] + len(lim))) or
                         lim[-1] != self._h.getNumRow() - 1):
            raise RuntimeError("the lim rows must be the last block of the compiled LP")
        self._lim0 = int(lim[0]) if len(lim) else self._h.getNumRow()
        self._n_lim_rows = len(lim)  # rows of the lim block currently in HiGHS
        self._lim_kept = np.zeros(0, dtype=int)
        self._ncol = self._h.getNumCol()
        if self.open_rows:
            # the rows change between solves and most of the others are free (objectives not
            # in use): the simplex from the last basis, without presolve, is the cheap way;
            # its dual pricing OPEN_ROWS_PRICING (see there)
            self._h.setOptionValue("presolve", "off")
            self._h.setOptionValue("simplex_dual_edge_weight_strategy", OPEN_ROWS_PRICING)

    def _init_appsi(self) -> None:
        from pyomo.contrib.appsi.solvers import Highs

        opt = Highs()
        opt.config.stream_solver = False
        opt.config.load_solution = False
        uc = opt.update_config
        for key in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                    "check_for_new_or_removed_params", "check_for_new_objective",
                    "update_constraints", "update_vars", "update_named_expressions",
                    "update_objective"):
            setattr(uc, key, False)
        uc.update_params = True
        opt.highs_options = {"output_flag": False}
        with _quiet_stdout():
            opt.set_instance(self.model)
        # HiGHS logs every +-1e20 bound it is given; the options above reach it only at solve
        solver_model = getattr(opt, "_solver_model", None)
        if solver_model is not None:
            solver_model.setOptionValue("output_flag", False)
        self._opt = opt

    # ------------------------------------------------------------- updates
    def update(self, A: np.ndarray, b: np.ndarray, caps: np.ndarray | float | None = None,
               lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> None:
        """Set the linearised limits ``A x <= b``, optionally the caps (kW), and the box
        ``max(lower, 0) <= x <= min(upper, caps)`` (default: ``[0, caps]``)."""
        A = np.atleast_2d(np.asarray(A, dtype=float))
        b = np.asarray(b, dtype=float).ravel()
        if A.shape[1] != self.n or A.shape[0] != len(b) or len(b) > self.m:
            raise ValueError(f"A must be (m <= {self.m}, {self.n}) and b (m,), got {A.shape}, "
                             f"{b.shape}")
        if caps is not None:
            self.set_caps(caps)
        self.set_box(lower, upper)
        self._A_lim, self._b_lim = A, b
        self._push_rows()

    def set_extra_rows(self, C: np.ndarray, d: np.ndarray) -> None:
        """Further constraints ``C x <= d`` kept under the limit rows through every
        :meth:`update` (at most ``n_extra`` rows; ``>=`` rows negated, equalities as two
        rows).  Their indices in ``LPSolution.binding_rows`` follow the limit rows'."""
        C = np.atleast_2d(np.asarray(C, dtype=float)).reshape(-1, self.n)
        d = np.asarray(d, dtype=float).ravel()
        if C.shape[0] != len(d) or len(d) > self.n_extra:
            raise ValueError(f"C must be (k <= {self.n_extra}, {self.n}) and d (k,), got "
                             f"{C.shape}, {d.shape}")
        self._extra = (C, d)
        self._push_rows()

    def _push_rows(self) -> None:
        self._A = np.vstack([self._A_lim, self._extra[0]])
        self._b = np.concatenate([self._b_lim, self._extra[1]])
        if self.equal_solver == "ratio":
            self._rows_dirty = True      # pushed to the backend when it solves (_sync_rows)
            return
        self._push_rows_backend()

    def _sync_rows(self) -> None:
        if self._rows_dirty:
            self._rows_dirty = False
            self._push_rows_backend()

    def _push_rows_backend(self) -> None:
        if self.backend == "highspy":
            self._push_lim_highspy()
        else:
            self._push_lim_appsi()

    def set_caps(self, caps: np.ndarray | float) -> None:
        """Upper bounds of the envelope variables (kW)."""
        caps = np.broadcast_to(np.asarray(caps, dtype=float), (self.n,)).copy()
        if np.any(caps < 0):
            raise ValueError("caps must be >= 0")
        if np.array_equal(caps, self._caps):
            return
        self._caps = caps
        self.set_box(None, None)

    def set_box(self, lower: np.ndarray | None, upper: np.ndarray | None) -> None:
        """Bounds ``max(lower, 0) <= x <= min(upper, caps)`` (None: 0 and the caps)."""
        hi = self._caps if upper is None else np.minimum(
            np.broadcast_to(np.asarray(upper, dtype=float), (self.n,)), self._caps)
        lo = np.zeros(self.n) if lower is None else np.clip(
            np.broadcast_to(np.asarray(lower, dtype=float), (self.n,)), 0.0, hi)
        if np.array_equal(lo, self._lo) and np.array_equal(hi, self._hi):
            return
        self._lo, self._hi = lo.copy(), hi.copy()
        if self.backend == "highspy":
            self._h.changeColsBounds(self.n, self._col_x, lo, hi)
        else:
            self.model.x_lo.store_values({i: float(v) for i, v in enumerate(lo)})
            self.model.x_hi.store_values({i: float(v) for i, v in enumerate(hi)})

    def _push_lim_highspy(self) -> None:
        A, b = self._A, self._b
        # the rows of the last push that A repeats unchanged (open_rows grows them round by
        # round and replaces a few in place: `changed`, the rows of the last push A alters)
        last = getattr(self, "_last_rows", None)
        changed = None
        if last is not None and len(A) >= len(last):
            changed = np.flatnonzero((last != A[:len(last)]).any(axis=1))
        self._last_rows = A
        # rows that cannot bind anywhere in the box are left out
        reach = self._box_reach(A, changed)
        keep = np.nonzero(reach > b)[0]
        if (self.open_rows and not self.active_set and changed is not None
                and self._append_rows(A, b, keep, changed)):
            return
        h = self._h
        if self._n_lim_rows:
            h.deleteRows(self._n_lim_rows,
                         np.arange(self._lim0, self._lim0 + self._n_lim_rows, dtype=np.int32))
        self._n_lim_rows = 0
        self._lim_kept = np.zeros(0, dtype=int)
        self._reach = keep
        if self.active_set and len(keep) > ACTIVE_SEED:
            # constraint generation: start from the rows that bound the last solution and the
            # rows tightest in the box; solve() adds every row the solution violates
            tight = keep[np.argsort((b[keep] - (np.clip(A[keep], None, 0.0) @ self._lo))
                                    / np.maximum(reach[keep], 1e-300))[:ACTIVE_SEED]]
            hint = self._active_hint[self._active_hint < len(b)]
            keep = np.union1d(tight, np.intersect1d(hint, keep))
        self._add_lim_rows(keep)
        if self.open_rows:
            self._pushed_b = b
            self._warm_basis()

    def _box_reach(self, A: np.ndarray, changed: np.ndarray | None) -> np.ndarray:
        """The largest value of each row ``A x`` over the box (the rows that exceed their
        bound nowhere in it cannot bind).  With the same box, the rows of the last push that
        `A` repeats (all of them but `changed`; None: none) keep their reach."""
        kept = getattr(self, "_reach_kept", None)
        m0 = 0
        if (changed is not None and kept is not None and np.array_equal(kept[0], self._lo)
                and np.array_equal(kept[1], self._hi)):
            m0 = len(kept[2])

        def reach_of(rows: np.ndarray) -> np.ndarray:
            r = np.clip(rows, 0.0, None) @ self._hi
            if self._lo.any():
                r += np.clip(rows, None, 0.0) @ self._lo
            return r

        if m0:
            reach = np.concatenate([kept[2], reach_of(A[m0:])])
            if len(changed):
                reach[changed] = reach_of(A[changed])
        else:
            reach = reach_of(A)
        self._reach_kept = (self._lo, self._hi, reach)
        return reach

    def _append_rows(self, A: np.ndarray, b: np.ndarray, keep: np.ndarray,
                     changed: np.ndarray) -> bool:
        """``open_rows``: when the rows given repeat those pushed last but for a few
        (`changed`), update HiGHS in place and keep its basis (no rebuild, no alien basis):
        every row in HiGHS gets its new bound, a changed row is retired (its bound made
        infinite: a free row, :data:`DEAD_ROW` in ``_lim_kept``) and joins again with its new
        coefficients, and the rows that can bind (`keep`) and are not in HiGHS join (a row
        that can no longer bind stays, harmless).  False (the caller rebuilds) with extra
        rows, or when more than :data:`MAX_RETIRED` of the rows in HiGHS would be retired."""
        b0 = getattr(self, "_pushed_b", None)            # the bounds of the rows pushed last
        if b0 is None or len(self._extra[1]):
            return False
        kept = self._lim_kept
        alive = kept != DEAD_ROW
        retire = np.zeros(len(kept), dtype=bool)
        if len(changed):
            retire[alive] = np.isin(kept[alive], changed)
        n_dead = int((~alive).sum() + retire.sum())
        if n_dead > MAX_RETIRED * max(len(kept), 1):
            return False
        h = self._h
        live = alive & ~retire
        pos = np.flatnonzero(live)
        upper = b[kept[pos]]
        moved = pos[upper != b0[kept[pos]]]
        if len(moved):
            h.changeRowsBounds(len(moved), (self._lim0 + moved).astype(np.int32),
                               np.full(len(moved), -np.inf), b[kept[moved]])
        gone = np.flatnonzero(retire)
        if len(gone):
            h.changeRowsBounds(len(gone), (self._lim0 + gone).astype(np.int32),
                               np.full(len(gone), -np.inf), np.full(len(gone), np.inf))
            kept = kept.copy()
            kept[gone] = DEAD_ROW
            self._lim_kept = kept
        present = np.zeros(len(b), dtype=bool)
        present[kept[kept != DEAD_ROW]] = True
        self._add_lim_rows(keep[~present[keep]])
        self._pushed_b = b
        return True

    def _warm_basis(self) -> None:
        """Start HiGHS from the last optimal basis: the columns and the other rows as they
        were, each limit row with the status it had (rows are known by their index in the
        rows given; new rows basic).  Given as an alien basis (HiGHS completes it when rows
        left or joined); without it, replacing the rows would start the simplex cold."""
        saved = getattr(self, "_basis", None)
        if saved is None:
            return
        import highspy

        last, kept = saved
        rs = last.row_status
        cols, rows0 = last.col_status, rs[: self._lim0]
        lim = dict(zip(kept.tolist(), rs[self._lim0:]))
        basic = highspy.HighsBasisStatus.kBasic
        basis = highspy.HighsBasis()
        basis.col_status = cols
        basis.row_status = rows0 + [lim.get(int(k), basic) for k in self._lim_kept]
        basis.alien = True
        basis.valid = True
        self._h.setBasis(basis)

    def _add_lim_rows(self, rows: np.ndarray) -> None:
        """Append limit rows `rows` (indices of ``self._A``) to the HiGHS lim block."""
        if not len(rows):
            return
        A, b = self._A, self._b
        sub = A[rows]
        nz_r, nz_c = np.nonzero(sub)
        starts = np.searchsorted(nz_r, np.arange(len(rows))).astype(np.int32)
        self._h.addRows(len(rows), np.full(len(rows), -np.inf), b[rows], len(nz_r), starts,
                        self._col_x[nz_c], sub[nz_r, nz_c])
        self._n_lim_rows += len(rows)
        self._lim_kept = np.concatenate([self._lim_kept, rows])

    def _push_lim_appsi(self) -> None:
        m = self.model
        A, b = self._A, self._b
        if self.open_rows:
            # the current row set as Pyomo constraints (the model of record of a changing set)
            import pyomo.environ as pyo

            if hasattr(m, "lim_rows"):
                m.del_component(m.lim_rows)
            m.lim_rows = pyo.ConstraintList()
            for k in range(len(b)):
                nz = np.nonzero(A[k])[0]
                m.lim_rows.add(sum(float(A[k, i]) * m.x[int(i)] for i in nz) <= float(b[k]))
            return
        mm = len(b)
        vals = {(k, i): float(A[k, i]) for k in range(mm) for i in range(self.n)}
        vals.update({(k, i): 0.0 for k in range(mm, self._rows_cap) for i in range(self.n)})
        m.A.store_values(vals)
        bv = {k: float(b[k]) for k in range(mm)}
        bv.update({k: BIG for k in range(mm, self._rows_cap)})
        m.b.store_values(bv)

    def set_tie(self, mode: str | None) -> None:
        """Tie the customers to the common level t: ``equal`` (x_i = t), ``min`` (x_i >= t) or None."""
        if mode is not None:
            self._need_full(f"set_tie({mode!r})")
        lo, hi = TIE_MODES[mode]
        self._set_rows("tie", np.full(self.n, lo), np.full(self.n, hi))

    def set_proportional(self, weights: np.ndarray | None) -> None:
        """x_i = w_i lam for all i (weights > 0, any scale), or None to switch off."""
        if weights is None:
            self._set_rows("prop", np.full(self.n, -BIG), np.full(self.n, BIG))
            return
        self._need_full("proportional allocation")
        w = np.broadcast_to(np.asarray(weights, dtype=float), (self.n,)).copy()
        if np.any(w < 0) or not np.any(w > 0):
            raise ValueError("proportional weights must be >= 0 and not all 0")
        if not np.array_equal(w, self._w):
            self._w = w
            if self.backend == "highspy":
                for i in range(self.n):
                    self._h.changeCoeff(int(self._row_prop[i]), int(self._col_lam), float(-w[i]))
            else:
                self.model.w.store_values({i: float(v) for i, v in enumerate(w)})
        self._set_rows("prop", np.zeros(self.n), np.zeros(self.n))

    def _need_full(self, what: str) -> None:
        """Raise ``ValueError`` if this LP is ``lean`` (max_total only)."""
        if self.lean:
            raise ValueError(f"a lean EnvelopeLP solves max_total only: {what} needs "
                             f"EnvelopeLP(..., lean=False)")

    def _set_rows(self, which: str, lo: np.ndarray, hi: np.ndarray) -> None:
        cur = self._tie if which == "tie" else self._prop
        if np.array_equal(cur[0], lo) and np.array_equal(cur[1], hi):
            return
        if which == "tie":
            self._tie = (lo, hi)
        else:
            self._prop = (lo, hi)
        if self.backend == "highspy":
            rows = self._row_tie if which == "tie" else self._row_prop
            self._h.changeRowsBounds(self.n, rows, np.where(lo <= -BIG, -np.inf, lo),
                                     np.where(hi >= BIG, np.inf, hi))
        else:
            m = self.model
            getattr(m, f"{which}_lo").store_values({i: float(v) for i, v in enumerate(lo)})
            getattr(m, f"{which}_hi").store_values({i: float(v) for i, v in enumerate(hi)})

    def set_log_breakpoints(self, breakpoints: np.ndarray) -> None:
        """Tangent points (kW, > 0) of the log cuts, shape (n_customers, n_breakpoints)."""
        bp = np.asarray(breakpoints, dtype=float)
        if bp.shape != (self.n, self.n_bp) or np.any(bp <= 0):
            raise ValueError(f"breakpoints must be positive with shape {(self.n, self.n_bp)}")
        if np.array_equal(bp, self._bp):
            return
        self._need_full("log breakpoints")
        self._bp = bp.copy()
        if self.backend == "highspy":
            h = self._h
            for i in range(self.n):
                for p in range(self.n_bp):
                    h.changeCoeff(int(self._row_cut[i, p]), int(self._col_x[i]), float(-1 / bp[i, p]))
            if self._cuts_on:
                self._push_cuts_highspy()
        else:
            self.model.bp.store_values({(i, p): float(bp[i, p]) for i in range(self.n)
                                        for p in range(self.n_bp)})

    def set_cuts(self, on: bool) -> None:
        """Switch the log tangent cuts on (log_fair) or off (their rows made free)."""
        if on == self._cuts_on:
            return
        self._need_full("log cuts")
        self._cuts_on = bool(on)
        if self.backend == "highspy":
            self._push_cuts_highspy()
        else:
            self.model.cut_off.set_value(0.0 if on else BIG)

    def _push_cuts_highspy(self) -> None:
        rows = self._row_cut.ravel()
        upper = (np.log(self._bp) - 1.0).ravel() if self._cuts_on else np.full(len(rows), np.inf)
        self._h.changeRowsBounds(len(rows), rows, np.full(len(rows), -np.inf), upper)

    def set_t_min(self, value: float) -> None:
        """Lower bound of the common level t (used by the lexicographic maxmin)."""
        if value == self._t_min:
            return
        self._need_full("a common level t")
        self._t_min = float(value)
        if self.backend == "highspy":
            self._h.changeColBounds(int(self._col_t), self._t_min, np.inf)
        else:
            self.model.t_min.set_value(self._t_min)

    def set_objective(self, x: np.ndarray | float = 0.0, t: float = 0.0, lam: float = 0.0,
                      z: np.ndarray | float = 0.0) -> None:
        """Maximise ``x . c_x + t c_t + lam c_lam + z . c_z`` (coefficients per kW)."""
        cx = np.broadcast_to(np.asarray(x, dtype=float), (self.n,)).copy()
        cz = np.broadcast_to(np.asarray(z, dtype=float), (self.n,)).copy()
        new = dict(x=cx, t=float(t), lam=float(lam), z=cz)
        if all(np.array_equal(new[k], self._cost[k]) for k in new):
            return
        if self.lean and (new["t"] or new["lam"] or new["z"].any()):
            self._need_full("an objective in t, lam or z")
        self._cost = new
        self._push_costs()

    def _push_costs(self) -> None:
        c = self._cost
        cd = 0.0 if self._anchor is None else self._anchor[1]
        if self.backend == "highspy":
            cost = np.zeros(self._ncol)
            cost[self._col_x] = c["x"]
            if not self.lean:
                cost[self._col_z] = c["z"]
                cost[self._col_t] = c["t"]
                cost[self._col_lam] = c["lam"]
                cost[self._col_d] = -cd
            self._h.changeColsCost(self._ncol, np.arange(self._ncol, dtype=np.int32), cost)
        else:
            m = self.model
            m.cx.store_values({i: float(v) for i, v in enumerate(c["x"])})
            m.cz.store_values({i: float(v) for i, v in enumerate(c["z"])})
            m.ct.set_value(float(c["t"]))
            m.clam.set_value(float(c["lam"]))
            m.cd.set_value(float(cd))

    def set_anchor(self, x0: np.ndarray | None, weight: float = 1e-5) -> None:
        """Tie-break towards `x0` (kW): subtract ``weight * sum|x_i - x0_i|`` from the
        objective (``weight`` per kW, >= 0); None switches it off.  Kept until changed."""
        if x0 is None:
            new = None
        else:
            if weight < 0:
                raise ValueError("anchor weight must be >= 0")
            new = (np.broadcast_to(np.asarray(x0, dtype=float), (self.n,)).copy(), float(weight))
        old = self._anchor
        if new is not None:
            self._need_full("an anchor")
        if (new is None and old is None) or (new is not None and old is not None and
                                             np.array_equal(new[0], old[0]) and new[1] == old[1]):
            return
        self._anchor = new
        lo = np.full(self.n, -BIG) if new is None else new[0]
        hi = np.full(self.n, BIG) if new is None else new[0]
        if self.backend == "highspy":
            self._h.changeRowsBounds(self.n, self._row_anc, np.where(lo <= -BIG, -np.inf, lo),
                                     np.where(hi >= BIG, np.inf, hi))
        else:
            self.model.anc_lo.store_values({i: float(v) for i, v in enumerate(lo)})
            self.model.anc_hi.store_values({i: float(v) for i, v in enumerate(hi)})
        if (0.0 if old is None else old[1]) != (0.0 if new is None else new[1]):
            self._push_costs()

    @property
    def n_limit_rows(self) -> int:
        """Linearised limit rows the solver holds: with ``highspy`` only those that can bind
        inside the current box (the others are dropped), with ``appsi`` all rows given."""
        self._sync_rows()
        return self._n_lim_rows if self.backend == "highspy" else len(self._b)

    def sync_pyomo(self) -> None:
        """Write the current data into the Pyomo model's Params (the highspy backend
        updates HiGHS only)."""
        m = self.model
        self._rows_dirty = False
        self._push_lim_appsi()
        m.x_lo.store_values({i: float(v) for i, v in enumerate(self._lo)})
        m.x_hi.store_values({i: float(v) for i, v in enumerate(self._hi)})
        m.cx.store_values({i: float(v) for i, v in enumerate(self._cost["x"])})
        if self.lean:
            return
        m.w.store_values({i: float(v) for i, v in enumerate(self._w)})
        m.bp.store_values({(i, p): float(self._bp[i, p]) for i in range(self.n)
                           for p in range(self.n_bp)})
        for which, (lo, hi) in (("tie", self._tie), ("prop", self._prop)):
            getattr(m, f"{which}_lo").store_values({i: float(v) for i, v in enumerate(lo)})
            getattr(m, f"{which}_hi").store_values({i: float(v) for i, v in enumerate(hi)})
        m.t_min.set_value(self._t_min)
        m.cut_off.set_value(0.0 if self._cuts_on else BIG)
        m.cz.store_values({i: float(v) for i, v in enumerate(self._cost["z"])})
        m.ct.set_value(self._cost["t"])
        m.clam.set_value(self._cost["lam"])
        lo, hi = ((np.full(self.n, -BIG), np.full(self.n, BIG)) if self._anchor is None
                  else (self._anchor[0], self._anchor[0]))
        m.anc_lo.store_values({i: float(v) for i, v in enumerate(lo)})
        m.anc_hi.store_values({i: float(v) for i, v in enumerate(hi)})
        m.cd.set_value(0.0 if self._anchor is None else self._anchor[1])

    # ------------------------------------------------------------- solving
    def solve(self) -> LPSolution:
        """Solve the LP as currently set up (one HiGHS run)."""
        self.n_solves += 1
        self._sync_rows()
        if self.backend == "highspy":
            x, t, lam, obj, status = self._run_highspy()
            while self.active_set and status == "optimal":
                # constraint generation: the rows of the box the solution violates join the LP
                # (re-solved from HiGHS's current basis) until it violates none: then it is an
                # optimum of the LP with every row
                out = np.setdiff1d(np.arange(len(self._b)), self._lim_kept, assume_unique=True)
                if not len(out):
                    break
                viol = out[self._A[out] @ x - self._b[out] > 1e-9 * (1.0 + np.abs(self._b[out]))]
                if not len(viol):
                    break
                self._add_lim_rows(viol)
                self.n_solves += 1
                x, t, lam, obj, status = self._run_highspy()
        else:
            x, t, lam, obj, status = self._run_appsi()
        sol = LPSolution(x, t, lam, obj, status)
        if sol.ok and len(self._b):
            slack = self._b - self._A @ x
            sol.binding_rows = np.nonzero(slack <= 1e-7 * (1.0 + np.abs(self._b)))[0]
            if self.active_set:
                self._active_hint = np.nonzero(slack <= 1e-3 * (1.0 + np.abs(self._b)))[0]
        return sol

    def _run_highspy(self):
        h = self._h
        h.run()
        status = h.getModelStatus()
        if status != self._kopt and self.open_rows and getattr(self, "_basis", None) is not None:
            # the warm basis (_warm_basis) may not suit the new rows: solve again from cold
            h.clearSolver()
            h.run()
            status = h.getModelStatus()
        if status != self._kopt:
            name = h.modelStatusToString(status).lower()
            return np.full(self.n, np.nan), np.nan, np.nan, np.nan, name
        if self.open_rows:
            # the optimal basis, by row identity (index into the rows given), for the next
            # update's warm start (_warm_basis)
            # (HiGHS's copy, read out only when a warm start needs it: reading 5,000 statuses
            # costs ~2 ms, a run at 2,000 customers ~7 ms)
            self._basis = (h.getBasis(), self._lim_kept.copy())
        col = np.asarray(h.getSolution().col_value)
        t, lam = ((np.nan, np.nan) if self.lean else
                  (float(col[self._col_t]), float(col[self._col_lam])))
        return col[self._col_x], t, lam, float(h.getInfo().objective_function_value), "optimal"

    def _run_appsi(self):
        from pyomo.contrib.appsi.base import TerminationCondition

        m = self.model
        res = self._opt.solve(m)
        if res.termination_condition != TerminationCondition.optimal:
            return (np.full(self.n, np.nan), np.nan, np.nan, np.nan,
                    str(res.termination_condition.name))
        vals = self._opt.get_primals([*m.x.values(), m.t, m.lam])
        x = np.array([vals[m.x[i]] for i in m.I])
        return x, float(vals[m.t]), float(vals[m.lam]), float(res.best_feasible_objective), "optimal"

    # ------------------------------------------------------ objectives
    def _reset_modes(self, tie: str | None = None, weights: np.ndarray | None = None,
                     cuts: bool = False) -> None:
        self.set_cuts(cuts)
        self.set_tie(tie)
        self.set_proportional(weights)
        self.set_t_min(0.0)

    def solve_equal(self) -> LPSolution:
        """Largest common envelope: max t s.t. x_i = t (by the ratio test with
        ``equal_solver="ratio"``)."""
        if self.equal_solver == "ratio":
            return self._solve_equal_ratio()
        self._reset_modes(tie="equal")
        self.set_objective(t=1.0)
        return self.solve()

    def _solve_equal_ratio(self) -> LPSolution:
        """:meth:`solve_equal` by :func:`~oe_opt.model.ratio.ratio_solve` on the row sums
        (x_i = t: one variable, in the intersection of the customers' boxes)."""
        from oe_opt.model.ratio import ratio_solve

        self.n_solves += 1
        res = ratio_solve(self._A.sum(axis=1), self._b, float(self._lo.max()),
                          float(self._hi.min()))
        if not res.ok:
            return LPSolution(np.full(self.n, np.nan), np.nan, np.nan, np.nan, "infeasible")
        x = np.full(self.n, res.t)
        obj = res.t
        if self._anchor is not None:
            obj -= self._anchor[1] * float(np.abs(x - self._anchor[0]).sum())
        sol = LPSolution(x, res.t, 0.0, obj, "optimal")
        if len(self._b):
            slack = self._b - self._A @ x
            sol.binding_rows = np.nonzero(slack <= 1e-7 * (1.0 + np.abs(self._b)))[0]
        return sol

    def solve_max_total(self) -> LPSolution:
        """Largest total envelope: max sum(x_i)."""
        self._reset_modes()
        self.set_objective(x=1.0)
        return self.solve()

    def solve_maxmin(self) -> LPSolution:
        """Lexicographic maxmin: max t s.t. x_i >= t, then max sum(x_i) with t at its optimum."""
        self._reset_modes(tie="min")
        self.set_objective(t=1.0)
        first = self.solve()
        if not first.ok:
            return first
        self.set_t_min(max(first.t - 1e-9 * (1.0 + abs(first.t)), 0.0))
        self.set_objective(x=1.0)
        second = self.solve()
        self.set_t_min(0.0)
        second.n_solves = 2
        if second.ok:
            second.t = float(np.min(second.x))
        return second

    def solve_max_total_above(self, t_min: float) -> LPSolution:
        """Largest total with every customer at least `t_min` (kW): max sum(x_i) s.t.
        x_i >= t >= t_min (maxmin's second stage on its own, see
        :func:`oe_opt.methods.optimised.make_solver`)."""
        self._reset_modes(tie="min")
        self.set_t_min(max(float(t_min), 0.0))
        self.set_objective(x=1.0)
        sol = self.solve()
        self.set_t_min(0.0)
        if sol.ok:
            sol.t = float(np.min(sol.x))
        return sol

    def solve_proportional(self, weights: np.ndarray) -> LPSolution:
        """Largest envelope proportional to `weights`: x_i = w_i lam, max lam."""
        self._reset_modes(weights=weights)
        self.set_objective(lam=1.0)
        return self.solve()

    def solve_log_fair(self) -> LPSolution:
        """Proportional fairness: max sum(log x_i), log as tangent cuts (piecewise linear).

        Unless :meth:`set_log_breakpoints` was called, the breakpoints are
        geometric from cap_i/1000 to cap_i (recomputed when the caps change).
        """
        if self._bp_auto_caps is None or not np.array_equal(self._bp_auto_caps, self._caps):
            self.set_log_breakpoints(log_breakpoints(self._caps, self.n_bp))
            self._bp_auto_caps = self._caps.copy()
        self._reset_modes(cuts=True)
        self.set_objective(z=1.0)
        return self.solve()


def log_breakpoints(caps: np.ndarray, n: int, ratio: float = 1e-3) -> np.ndarray:
    """Geometric tangent points from ``ratio * cap`` to ``cap`` per customer (kW).

    Customers with a zero cap get breakpoints on [1e-6, 1e-3] kW (their x is 0 anyway).
    """
    caps = np.asarray(caps, dtype=float)
    hi = np.where(caps > 0, caps, 1e-3)
    return hi[:, None] * np.logspace(math.log10(ratio), 0.0, n)[None, :]
