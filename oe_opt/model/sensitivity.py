"""Sensitivities of the monitored quantities to the flexible customers' power.

Around a solved operating point, :class:`SensitivityModel` gives the change of
every monitored quantity per kW of flexible-customer power (load sign: +1 kW
is 1 kW more consumption, i.e. 1 kW less export).  It sees the network only
through the engine door (:class:`~oe_opt.network.base.NetworkEngine`); with
the engine's :class:`~oe_opt.network.base.NetworkMatrices` the monitored
quantities are

* every monitored customer voltage magnitude (V), in ``voltage_labels`` order;
* every monitored phase-current magnitude (A): the phase conductors at
  terminal 1 of every line, then those of every transformer winding (the rows
  of ``NetworkMatrices.current_map``).

:class:`QuantityLayout` describes that vector; limits are applied to it
entry by entry (a line's loading is the largest of its phase currents, so a
limit on every phase current is the same constraint, made smooth).  An
engine without matrices gives the voltages and the loading (%) of every line
and transformer of ``read_state()`` instead (rating 100 in the layout), and
finite differences only.

Two ways to compute the sensitivities, which agree (tested):

:meth:`SensitivityModel.finite_difference`
    Perturbation runs: one full power flow per direction (two with central
    differences), counted as power flows.  Works with any engine.

:meth:`SensitivityModel.analytic`
    From the network admittance matrix ``Y`` (lines, transformers, the
    source's Norton admittance; loads and PV left out) and the node voltages
    of the solved state; no power flow.  Every load and PV system is a
    constant-power injection ``I_n = conj(S_n / V_n)`` at its node, with
    ``S_n = V_n conj((Y V)_n)`` from the solved voltages, so the power-flow
    equations ``Y V = I(V, S)`` linearise to::

        Y dV + D conj(dV) = conj(dS) / conj(V),   D = diag(conj(S) / conj(V)^2)

    The constant-PQ terms ``D`` make this the power-flow Jacobian rather than
    plain ``Y^-1`` (leaving them out is measurably worse, tested).
    Magnitudes follow from ``d|X| = Re(conj(X) dX) / |X|`` (at ``|X| ~ 0``,
    e.g. an idle customer's service cable, the growth ``|dX|``).

    Two solvers (``solver=``): ``dense`` computes ``Y^-1`` restricted to the
    injection nodes ``K`` once (sparse LU) and solves a dense system of size
    ``2|K|`` per linearisation (small networks); ``sparse`` factorises the
    real form of ``Y`` once and iterates on the load terms (large networks),
    or, for :data:`SPARSE_LU_COLUMNS` or more directions (per-customer
    envelopes), factorises the real form of ``Y`` + load terms once per
    linearisation.  ``auto`` picks dense up to :data:`DENSE_MAX_INJECTIONS`
    injection nodes.  Timings: ``benchmarks/results/``.

:class:`LocalModel` (``Linearisation.model`` of an analytic linearisation)
    goes beyond the linearisation without a power flow: the power-flow
    solution after a step of the flexible customers' power as a power series
    in the step (each order one more solve with the same factorisation), and
    the sensitivities at that predicted state (or, by the adjoint, those of a
    few monitored quantities only).  The optimiser solves its LP on this
    model between power flows (:func:`oe_opt.methods.slp.solve_on_model`).

The analytic model needs the engine's matrices, constant-power (``model=1``)
loads and grounded-wye power-conversion elements (as in the Test LV Circuit
and the generated networks); :class:`SensitivityModel` raises
:class:`~oe_opt.errors.NetworkError` otherwise
(:class:`~oe_opt.network.base.EngineCapabilityError` when there are no
matrices), and the finite-difference model works for any circuit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from oe_opt.errors import NetworkError
from oe_opt.model.blocks import BlockInverse, BlockPlan, Partition, partition_nodes
from oe_opt.network.base import EngineCapabilityError, NetworkEngine, NetworkMatrices, RowProduct

#: load-sign power of one kW in watts (consumption raises the drawn current)
W_PER_KW = 1000.0
#: the dense solver is used up to this many injection (load/PV) nodes
DENSE_MAX_INJECTIONS = 60
#: default order of the power-series prediction of :class:`LocalModel`
SERIES_ORDER = 4
#: relative tolerance of the sparse solver for the local model's terms (predictions, not the
#: sensitivities at solved states)
MODEL_RTOL = 1e-7
#: the sparse solver factorises ``J0 + D`` for this many directions or more (else it iterates)
SPARSE_LU_COLUMNS = 8
#: SuperLU's options for every sparse factorisation: a minimum-degree ordering on the
#: structure of ``A + A^T`` (the network's graph: the real-form Jacobian is structurally
#: symmetric) and threshold pivoting that keeps the diagonal unless it is under a tenth of
#: its column.  On the MV-LV feeder (67,134 real unknowns) this halves the factors' fill
#: against SuperLU's defaults (COLAMD, partial pivoting) and makes each transposed solve of an
#: adjoint row 2-3x cheaper, with the same residual (``benchmarks/alloc_mvlv_day.py``).
SPLU_OPTIONS = {"permc_spec": "MMD_AT_PLUS_A", "diag_pivot_thresh": 0.1}
#: right-hand sides per sparse triangular solve: SuperLU streams every block of right-hand
#: sides through the factors once per supernode, and past a few dozen columns the block
#: falls out of cache (per column, 2.6 ms at 1-20 columns, 6.4 ms at 400 on the MV-LV feeder;
#: 0.15 ms at 16 and 8.3 ms at 512 on the 2,000-customer feeder)
SOLVE_CHUNK = 16
#: the sparse solver's adjoint rows go by blocks of the network (:mod:`oe_opt.model.blocks`)
#: from this many nodes: on the MV-LV feeder 0.25 ms per row instead of 2.5 ms by the whole LU
BLOCK_MIN_NODES = 2000
#: ... once this many rows were asked at a state (a block inverse costs about as much as 70-100
#: rows by the whole LU on the 2,000-customer and MV-LV feeders)
BLOCK_MIN_ROWS = 64
#: block inverses kept (the last states asked)
BLOCK_KEEP = 2
#: directions (columns) up to which the dense solver iterates instead of factorising
#: (:func:`_fixed_point`: the fast core's one all-ones direction per period)
DENSE_ITER_COLUMNS = 2
#: the iteration's stop: the step below this share of the solution (machine precision)
DENSE_ITER_RTOL = 1e-15


@dataclass(frozen=True)
class QuantityLayout:
    """What each entry of the monitored-quantity vector is.

    Attributes
    ----------
    kind : ndarray of str
        ``voltage`` (V), ``line`` or ``transformer`` (A) per entry.
    element : list of str
        Customer (for voltages), line or transformer name per entry.
    rating_a : ndarray
        The value of each current entry at its rating: the rated current (A)
        of phase currents (line NormAmps, transformer winding rated current),
        100 for loadings in percent (engines without matrices); NaN for
        voltages.
    """

    kind: np.ndarray
    element: list[str]
    rating_a: np.ndarray

    @property
    def n(self) -> int:
        return len(self.kind)

    @property
    def is_voltage(self) -> np.ndarray:
        return self.kind == "voltage"


@dataclass
class Linearisation:
    """Monitored quantities at an operating point and their sensitivities.

    Attributes
    ----------
    y : ndarray, shape (n_q,)
        Monitored quantities at the operating point (V for voltages, A for
        currents), see :class:`QuantityLayout`.
    dy_dp : ndarray, shape (n_q, k)
        Change of each quantity per kW along each direction (column of the
        direction matrix; load sign, +1 = more consumption).
    p_kw : ndarray, shape (n_flex,)
        Flexible customers' power at the operating point (kW, load sign).
    method : str
        ``analytic`` or ``fd``.
    n_powerflows : int
        Power flows used (perturbation runs; 0 for ``analytic``).
    model : LocalModel or None
        Higher-order model around the operating point (analytic only):
        predicted quantities and linearisations after a step, no power flow.
    """

    y: np.ndarray
    dy_dp: np.ndarray
    p_kw: np.ndarray
    method: str
    n_powerflows: int = 0
    model: "LocalModel | None" = None

    def predict(self, p_kw: np.ndarray) -> np.ndarray:
        """Linear prediction of the quantities at `p_kw` (for identity directions)."""
        return self.y + self.dy_dp @ (np.asarray(p_kw, dtype=float) - self.p_kw)


class SensitivityModel:
    """Linear model of the monitored quantities of a network around solved states.

    Parameters
    ----------
    net : NetworkEngine
        The compiled network.  Building the model runs one power flow on it
        (OpenDSS knows its node references only after a solution).
    flex_idx : array of int
        Positions of the flexible customers in ``net.load_names``.
    analytic : bool
        Prepare the analytic model (needs ``net.matrices()``; LU of the
        network Y); with False only :meth:`finite_difference` is available.
    solver : str
        ``dense``: ``Y^-1`` restricted to the injection nodes is computed once
        and each linearisation solves a dense system of size ``2|K|`` (fast for
        small networks); ``sparse``: the real form of ``Y`` is factorised once
        and each linearisation iterates on the load terms with it (scales to
        thousands of customers); ``auto``: dense up to
        :data:`DENSE_MAX_INJECTIONS` injection nodes.

    Raises
    ------
    EngineCapabilityError
        With `analytic`, if the engine provides no matrices.
    NetworkError
        With `analytic`, if the circuit has elements the analytic model does
        not cover (see the module notes); finite differences still work.
    """

    def __init__(self, net: NetworkEngine, flex_idx: np.ndarray, analytic: bool = True,
                 solver: str = "auto"):
        if solver not in ("auto", "dense", "sparse"):
            raise ValueError(f"solver must be 'auto', 'dense' or 'sparse', got {solver!r}")
        self._solver = solver
        self._m_mon_product = None
        self._partition: Partition | None = None
        self.net = net
        self.flex_idx = np.asarray(flex_idx, dtype=int)
        self.n_flex = len(self.flex_idx)
        net.solve()  # node references and the Y matrix exist only after a solution
        self._mats = net.matrices()
        self._analytic = False
        if self._mats is None:
            if analytic:
                raise EngineCapabilityError(f"{net.master}: the network engine provides no "
                                            f"matrices; analytic sensitivities are unavailable "
                                            f"(use finite differences)")
            self.layout = self._state_layout()
            return
        mats = self._mats
        self.n_nodes = mats.n_nodes
        self._mon = mats.voltage_nodes
        self._m_mon = mats.current_map
        nv = len(self._mon)
        self.layout = QuantityLayout(
            kind=np.array(["voltage"] * nv + list(mats.current_kind)),
            element=list(net.voltage_labels) + list(mats.current_element),
            rating_a=np.concatenate([np.full(nv, np.nan), np.asarray(mats.current_rating_a)]),
        )
        if analytic:
            self._prepare_analytic()

    def _state_layout(self) -> QuantityLayout:
        """Layout of the quantities read from :meth:`NetworkEngine.read_state` (no matrices):
        voltages, then the loading (%) of every line and transformer."""
        net = self.net
        nv = len(net.voltage_labels)
        nc = len(net.line_names) + len(net.transformer_names)
        return QuantityLayout(
            kind=np.array(["voltage"] * nv + ["line"] * len(net.line_names)
                          + ["transformer"] * len(net.transformer_names)),
            element=list(net.voltage_labels) + list(net.line_names) + list(net.transformer_names),
            rating_a=np.concatenate([np.full(nv, np.nan), np.full(nc, 100.0)]),
        )

    # -------------------------------------------------------------- analytic
    def _prepare_analytic(self) -> None:
        net, mats = self.net, self._mats
        injection = set()
        bad_model = [name for name, model in zip(net.load_names, mats.load_model) if model != 1]
        if bad_model:
            raise NetworkError(f"{net.master}: analytic sensitivities need constant-power loads "
                               f"(model=1); {', '.join(bad_model[:5])} are not (use finite "
                               f"differences)")
        source = {int(r) for r in mats.source_nodes}
        for name, nodes in zip(mats.injection_names, mats.injection_nodes):
            if nodes[-1] != -1 or np.any(nodes[:-1] == -1):
                raise NetworkError(f"{net.master}: analytic sensitivities need grounded-wye "
                                   f"power-conversion elements; {name} is delta-connected or has "
                                   f"an ungrounded neutral (use finite differences)")
            injection.update(int(r) for r in nodes[:-1])
        both = injection & source
        if both:
            raise NetworkError(f"{net.master}: loads at the source bus are not supported by the "
                               f"analytic sensitivities ({mats.node_order[min(both)]})")
        self._k = np.array(sorted(injection), dtype=int)
        kpos = {n: i for i, n in enumerate(self._k)}
        # flexible customers: their phase nodes (in K) and share of the power per phase
        fr, fc, fv = [], [], []
        for j, li in enumerate(self.flex_idx):
            phase = [int(r) for r in mats.load_nodes[int(li)][:-1]]
            for node in phase:
                fr.append(kpos[node])
                fc.append(j)
                fv.append(1.0 / len(phase))
        self._flex_map = sp.csr_matrix((fv, (fr, fc)), shape=(len(self._k), self.n_flex))
        y = mats.y_network
        self._y = y.tocsr()
        self._y_k = self._y[self._k]
        try:
            lu = _splu(y.tocsc())
        except RuntimeError as exc:
            raise NetworkError(f"{net.master}: the network admittance matrix is singular "
                               f"({exc}); analytic sensitivities are unavailable") from exc
        if self._solver == "auto":
            self._solver = "dense" if len(self._k) <= DENSE_MAX_INJECTIONS else "sparse"
        self._analytic = True
        if self._solver == "sparse":
            g, b = y.real.tocsc(), y.imag.tocsc()
            self._j0 = sp.bmat([[g, -b], [b, g]], format="csc")
            self._lu0 = SparseFactor(self._j0)
            n, k = self.n_nodes, self._k
            self._d_rows = np.concatenate([k, k, n + k, n + k])
            self._d_cols = np.concatenate([k, n + k, k, n + k])
            part = (partition_nodes(y, mats.node_order) if self.n_nodes >= BLOCK_MIN_NODES
                    else None)
            if part is not None and len(part.blocks) >= 2:
                self._partition = part
            return
        ek = np.zeros((self.n_nodes, len(self._k)), dtype=complex)
        ek[self._k, np.arange(len(self._k))] = 1.0
        z_k = _solve(lu, ek)                    # Y^-1 restricted to the injection columns
        self._z_kk = z_k[self._k]
        self._z_mon = z_k[self._mon]
        self._mz = self._m_mon @ z_k            # currents per unit injection at K

    @property
    def partition(self) -> Partition | None:
        """The blocks the sparse solver's adjoint rows go by (None: by the whole LU)."""
        return self._partition

    @property
    def n_block_inverses(self) -> int:
        """Block inverses made so far (one per state whose rows went by blocks)."""
        return self.__dict__.get("_n_bi", 0)

    @property
    def matrices(self) -> NetworkMatrices | None:
        """The engine's :class:`NetworkMatrices` the model was built from (None: the engine
        has none, quantities come from ``read_state``)."""
        return self._mats

    @property
    def injection_nodes(self) -> np.ndarray:
        """The injection (load/PV) nodes ``K`` of the analytic model, sorted (positions in
        ``matrices.node_order``)."""
        if not self._analytic:
            raise NetworkError("analytic sensitivities were not prepared (analytic=False)")
        return self._k.copy()

    def node_voltages(self) -> np.ndarray:
        """Complex node voltages (V) of the last solved state, in ``matrices.node_order``."""
        if self._mats is None:
            raise EngineCapabilityError(f"{self.net.master}: the network engine provides no "
                                        f"matrices (node voltages)")
        return self._mats.node_voltages()

    def quantities(self, v: np.ndarray | None = None) -> np.ndarray:
        """Monitored quantities (V, A) of the last solved state (or of node voltages `v`).

        Without matrices: the voltages (V) and loadings (%) of ``net.read_state()``
        (see :attr:`layout`); `v` is then not accepted.
        """
        if self._mats is None:
            if v is not None:
                raise EngineCapabilityError(f"{self.net.master}: the network engine provides "
                                            f"no matrices (quantities from node voltages)")
            st = self.net.read_state()
            return np.concatenate([st.voltage_v, st.line_loading_pct, st.transformer_loading_pct])
        v = self.node_voltages() if v is None else v
        if self._m_mon_product is None:
            self._m_mon_product = RowProduct(self._m_mon)
            nm = len(self._mon)
            # the complex voltages and currents side by side, one |.| for both (the same
            # bits as two; the buffer is reused, the returned y is always new)
            buf = np.empty(nm + self._m_mon_product.shape[0],
                           dtype=np.result_type(self._m_mon_product._data, complex))
            self._q_buf = (buf, buf[:nm], buf[nm:])
        buf, at_v, at_i = self._q_buf
        if v.dtype != buf.dtype:                # (never for node voltages: complex)
            return np.concatenate([np.abs(v[self._mon]), np.abs(self._m_mon_product(v))])
        at_v[...] = v[self._mon]
        self._m_mon_product.into(v, at_i)
        return np.abs(buf)

    @property
    def has_matrices(self) -> bool:
        """True when the engine gave the network's matrices (quantities in V and A, analytic
        sensitivities possible); False: the quantities are ``net.read_state()``'s."""
        return self._mats is not None

    def state_of(self, y: np.ndarray):
        """The :class:`~oe_opt.network.base.NetworkState` of quantities `y` (:meth:`quantities`
        of a solved state): the same voltages and loadings as ``net.read_state("yprim")`` of
        that state (:class:`~oe_opt.model.limits.QuantityState`; tested equal).  Needs matrices."""
        qs = getattr(self, "_quantity_state", None)
        if qs is None:
            if self._mats is None:
                raise EngineCapabilityError(f"{self.net.master}: the network engine provides "
                                            f"no matrices (state from quantities)")
            from oe_opt.model.limits import QuantityState

            qs = self._quantity_state = QuantityState(self.layout, list(self.net.line_names),
                                                      list(self.net.transformer_names))
        return qs(y)

    def analytic(self, p_kw: np.ndarray | float, directions: np.ndarray | None = None,
                 v: np.ndarray | None = None) -> Linearisation:
        """Sensitivities at the last solved state from the Y matrix (no power flow).

        Parameters
        ----------
        p_kw : array or float
            Flexible customers' power of that state (kW, load sign); recorded
            in the result as the operating point.
        directions : ndarray, shape (n_flex, k), optional
            Each column a direction of change of the flexible customers'
            power (kW per unit); the identity (one column per customer) if omitted.
        v : ndarray, optional
            Complex node voltages (V, :meth:`node_voltages`) of the solved state
            to linearise at, if not the last solved one (e.g. kept from an earlier
            power flow).

        Returns
        -------
        Linearisation
        """
        if not self._analytic:
            raise NetworkError("analytic sensitivities were not prepared (analytic=False)")
        e = np.eye(self.n_flex) if directions is None else np.asarray(directions, dtype=float)
        v = self.node_voltages() if v is None else np.asarray(v)
        vk = v[self._k]
        s_inj = vk * np.conj(self._y_k @ v)            # injected complex power at K (VA)
        xm = np.concatenate([v[self._mon], self._m_mon @ v])
        p = np.broadcast_to(np.asarray(p_kw, dtype=float), (self.n_flex,)).copy()
        return self._linearise_state(vk, s_inj, xm, p, e)

    def analytic_rows(self, p_kw: np.ndarray | float, directions: np.ndarray | None = None,
                      v: np.ndarray | None = None) -> Linearisation:
        """:meth:`analytic` without the sensitivities of every quantity (matrix-free).

        The quantities ``y`` of the last solved state (or of `v`) and its
        :class:`LocalModel` (one factorisation of the linearised power flow), but
        ``dy_dp`` is None: the sensitivities of the quantities that are needed come from
        ``model.gradient(0, q_idx)`` (by the adjoint: one transposed solve per quantity
        instead of one solve per direction), and the model's first-order term of a step
        is one solve.  For many directions (per-customer envelopes) where only a few
        limit rows matter (:mod:`oe_opt.methods.row_generation`).
        """
        if not self._analytic:
            raise NetworkError("analytic sensitivities were not prepared (analytic=False)")
        e = np.eye(self.n_flex) if directions is None else np.asarray(directions, dtype=float)
        v = self.node_voltages() if v is None else np.asarray(v)
        vk = v[self._k]
        s_inj = vk * np.conj(self._y_k @ v)
        xm = np.concatenate([v[self._mon], self._m_mon @ v])
        p = np.broadcast_to(np.asarray(p_kw, dtype=float), (self.n_flex,)).copy()
        return self._linearise_state(vk, s_inj, xm, p, e, lazy=True)

    def _linearise_state(self, vk: np.ndarray, s_inj: np.ndarray, xm: np.ndarray, p_kw: np.ndarray,
                         e: np.ndarray, rtol: float = 1e-10, lazy: bool = False) -> Linearisation:
        """Linearisation at a state given by its injection-node voltages `vk` (V), injected
        powers `s_inj` (VA) and monitored complex quantities `xm` (V, A); `rtol`: tolerance
        of the sparse solver's iteration (the series terms use :data:`MODEL_RTOL`)."""
        d = np.conj(s_inj) / np.conj(vk) ** 2
        if lazy:   # the directions stay sparse: r @ c is all the model needs of them
            r = sp.diags(-W_PER_KW / np.conj(vk)) @ self._flex_directions(e)
        else:
            r = (-W_PER_KW / np.conj(vk))[:, None] * self._flex_directions_dense(e)
        if self._solver == "sparse":
            # many directions: one sparse LU of J0 + D beats iterating on each of them
            lu = self._sparse_lu(d) if (lazy or e.shape[1] >= SPARSE_LU_COLUMNS) else None
            if lazy:
                dvk = dxm = None
            else:
                bi = (self._block_inverse(d, vk, e, sp.csr_matrix(r), e.shape[1])
                      if e.shape[1] >= BLOCK_MIN_ROWS else None)
                if bi is not None:               # every direction's dV by blocks
                    x = bi.solution()
                    dv = x[:self.n_nodes] + 1j * x[self.n_nodes:]
                else:
                    dv = self._solve_sparse(d, r, rtol=rtol, lu=lu)
                dvk, dxm = dv[self._k], np.vstack([dv[self._mon], self._m_mon @ dv])

            def solve(rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                dvn = self._solve_sparse(d, rhs[:, None], rtol=MODEL_RTOL, lu=lu)[:, 0]
                return dvn[self._k], np.concatenate([dvn[self._mon], self._m_mon @ dvn])
        else:
            nk = len(self._k)
            kept: list = []                             # the LU of the real form, made once

            def factor():
                if not kept:
                    kept.append(sla.lu_factor(self._lhs(d), check_finite=False))
                return kept[0]

            if lazy:
                dvk = dxm = None
            else:
                zr = self._z_kk @ r
                dvk = (_fixed_point(self._z_kk * d[None, :], zr)
                       if e.shape[1] <= DENSE_ITER_COLUMNS else None)
                if dvk is None:
                    sol = sla.lu_solve(factor(), np.vstack([zr.real, zr.imag]), check_finite=False)
                    dvk = sol[:nk] + 1j * sol[nk:]
                q = r - d[:, None] * np.conj(dvk)      # effective current injection change
                dxm = np.vstack([self._z_mon @ q, self._mz @ q])

            def solve(rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                lu = factor()
                zn = self._z_kk @ rhs
                sn = sla.lu_solve(lu, np.concatenate([zn.real, zn.imag]), check_finite=False)
                vkn = sn[:nk] + 1j * sn[nk:]
                qn = rhs - d * np.conj(vkn)
                return vkn, np.concatenate([self._z_mon @ qn, self._mz @ qn])

        model = LocalModel(self, e, p_kw, vk, s_inj, xm, r, dvk, dxm, solve,
                           lu=lu if self._solver == "sparse" else None)
        if lazy:
            return Linearisation(np.abs(xm), None, p_kw, "analytic", 0, model)
        return Linearisation(np.abs(xm), _dmag(xm, dxm), p_kw, "analytic", 0, model)

    def _flex_directions_dense(self, e: np.ndarray) -> np.ndarray:
        """``flex_map @ e`` as a dense array: the directions `e` at the injection nodes (the
        last one kept: the fast core asks for the same all-ones direction every period)."""
        key = (e.shape, e.tobytes())
        kept = getattr(self, "_kept_directions", None)
        if kept is None or kept[0] != key:
            kept = (key, np.asarray(self._flex_map @ e))
            self._kept_directions = kept
        return kept[1]

    def _row_gradients(self, vk: np.ndarray, s_inj: np.ndarray, xm: np.ndarray, e: np.ndarray,
                       q_idx: np.ndarray, kinks: bool = False, lu=None) -> np.ndarray | None:
        """Sensitivities of the monitored quantities `q_idx` only, at a state as in
        :meth:`_linearise_state`, by the adjoint: one (transposed) solve per quantity instead
        of one per direction.  Rows ``q_idx``, columns the directions `e`; None if one of
        the quantities is at its kink (``|x| < KINK``, see :func:`_dmag`), unless `kinks`:
        then the growth ``|dx|`` of those (as :func:`_dmag`) from two adjoint solves each
        (``Re dx`` and ``Im dx``).  `lu`: the sparse factorisation of ``J0 + D`` at this
        state, if already made (sparse solver)."""
        x = xm[q_idx]
        mag = np.abs(x)
        small = mag < KINK
        if np.any(small):
            if not kinks:
                return None
            q_idx = np.asarray(q_idx, dtype=int)
            out = np.empty((len(q_idx), e.shape[1]))
            big = np.nonzero(~small)[0]
            sm = np.nonzero(small)[0]
            both = np.concatenate([q_idx[big], q_idx[sm], q_idx[sm]])
            w_all = np.concatenate([np.conj(x[big]) / mag[big], np.ones(len(sm)),
                                    np.full(len(sm), -1j)])
            g = self._adjoint(vk, s_inj, e, both, w_all, lu)
            out[big] = g[: len(big)]
            re, im = g[len(big): len(big) + len(sm)], g[len(big) + len(sm):]
            out[sm] = np.hypot(re, im)
            return out
        return self._adjoint(vk, s_inj, e, q_idx, np.conj(x) / mag, lu)

    def _adjoint(self, vk: np.ndarray, s_inj: np.ndarray, e: np.ndarray, q_idx: np.ndarray,
                 w: np.ndarray, lu=None) -> np.ndarray:
        """``Re(w_j dx_j)`` per direction for the monitored quantities `q_idx` (adjoint)."""
        d = np.conj(s_inj) / np.conj(vk) ** 2
        r = sp.diags(-W_PER_KW / np.conj(vk)) @ self._flex_directions(e)   # conj(dS)/conj(V)
        nv = len(self._mon)
        nk = len(self._k)
        if self._solver == "sparse":
            # dx = P dV, dV = (J0 + D)^-1 [r at K] (real form): the functional Re(w P dV) is
            # sigma . [Re dV; Im dV] with sigma = [Re(wP), -Im(wP)]
            n = self.n_nodes
            bi = self._block_inverse(d, vk, e, r, len(q_idx))
            if bi is not None:
                return bi.products(self._adjoint_rhs(q_idx, w, sparse=True))
            if lu is None and len(q_idx) >= SPARSE_LU_COLUMNS:
                lu = self._sparse_lu(d)
            a_re = np.empty((nk, len(q_idx)))
            a_im = np.empty((nk, len(q_idx)))
            for start in range(0, len(q_idx), SOLVE_CHUNK):
                part = slice(start, start + SOLVE_CHUNK)
                sig = self._adjoint_rhs(q_idx[part], w[part])
                alpha = lu.solve(sig, trans="T") if lu is not None else self._solve_sparse_t(d, sig)
                a_re[:, part], a_im[:, part] = alpha[self._k], alpha[n + self._k]
            a_k = a_re, a_im
        else:
            # dx = P q, q = r - d conj(v), lhs [Re v; Im v] = [Re Z r; Im Z r]
            pm = np.vstack([self._z_mon[q_idx[q_idx < nv]], self._mz[q_idx[q_idx >= nv] - nv]])
            order = np.concatenate([np.nonzero(q_idx < nv)[0], np.nonzero(q_idx >= nv)[0]])
            sp_ = np.empty((len(q_idx), nk), dtype=complex)
            sp_[order] = pm
            sp_ = w[:, None] * sp_                               # s_j = w_j P_j
            sr, si = sp_.real, -sp_.imag                          # sigma(s) = [Re s, -Im s]
            dr, di = d.real, d.imag
            # sigma R(diag d) C, then the transposed solve with lhs
            t = np.hstack([sr * dr + si * di, sr * di - si * dr])
            lhs = self._lhs(d)
            beta = sla.lu_solve(sla.lu_factor(lhs, check_finite=False), t.T, trans=1,
                                check_finite=False)
            zr, zi = self._z_kk.real, self._z_kk.imag
            b1, b2 = beta[:nk], beta[nk:]
            a_k = (sr.T - (zr.T @ b1 + zi.T @ b2), si.T - (-zi.T @ b1 + zr.T @ b2))
        return np.asarray((r.real.T @ a_k[0] + r.imag.T @ a_k[1]).T)

    def _adjoint_rhs(self, q_idx: np.ndarray, w: np.ndarray,
                     sparse: bool = False) -> np.ndarray | sp.csc_matrix:
        """The adjoint right-hand sides (real form, all nodes; one column per quantity) of
        the functionals ``Re(w_j x_j)`` of the monitored quantities `q_idx` (sparse solver):
        ``x = P dV`` gives ``sigma = [Re(w P), -Im(w P)]``; a sparse matrix if `sparse`."""
        n, nv = self.n_nodes, len(self._mon)
        if sparse:
            volt = q_idx < nv
            cols = np.nonzero(volt)[0]
            nodes = self._mon[q_idx[cols]]
            cur = np.nonzero(~volt)[0]
            wp = sp.coo_matrix(sp.diags(w[cur]) @ self._m_mon[q_idx[cur] - nv])
            rows = np.concatenate([nodes, n + nodes, wp.col, n + wp.col])
            colj = np.concatenate([cols, cols, cur[wp.row], cur[wp.row]])
            vals = np.concatenate([w[cols].real, -w[cols].imag, wp.data.real, -wp.data.imag])
            return sp.csc_matrix((vals, (rows, colj)), shape=(2 * n, len(q_idx)))
        sig = np.zeros((2 * n, len(q_idx)))
        volt = q_idx < nv
        cols = np.nonzero(volt)[0]
        nodes = self._mon[q_idx[cols]]
        sig[nodes, cols] = w[cols].real
        sig[n + nodes, cols] = -w[cols].imag
        if (~volt).any():
            rows = self._m_mon[q_idx[~volt] - nv]                 # sparse, complex
            wp = sp.diags(w[~volt]) @ rows
            sig[:n, ~volt] = wp.real.T.toarray()
            sig[n:, ~volt] = -wp.imag.T.toarray()
        return sig

    def _block_inverse(self, d: np.ndarray, vk: np.ndarray, e: np.ndarray, r: sp.spmatrix,
                       n_rows: int) -> BlockInverse | None:
        """The :class:`~oe_opt.model.blocks.BlockInverse` of ``J0 + D`` for the load terms
        `d` and the directions ``r`` (kW per unit at the injection nodes, from `vk` and
        `e`), asked for `n_rows` rows; None without a partition, or while fewer than
        :data:`BLOCK_MIN_ROWS` rows were asked at this state (the whole LU is cheaper for a
        few).  The last :data:`BLOCK_KEEP` are kept: a state's rows arrive in several
        batches, between which a few rows are asked at other states."""
        if self._partition is None:
            return None
        key = (d.tobytes(), vk.tobytes())
        kept = self.__dict__.setdefault("_bi_cache", [])
        for i, (k, ke, bi) in enumerate(kept):
            if ke is e and k == key:
                kept.append(kept.pop(i))
                return bi
        asked = self.__dict__.setdefault("_rows_asked", {})
        if key not in asked and len(asked) > 8:
            asked.clear()
        asked[key] = asked.get(key, 0) + n_rows
        if asked[key] < BLOCK_MIN_ROWS:
            return None
        n = self.n_nodes
        rc = sp.coo_matrix(r)
        real_r = sp.csr_matrix(
            (np.concatenate([rc.data.real, rc.data.imag]),
             (np.concatenate([self._k[rc.row], n + self._k[rc.row]]),
              np.concatenate([rc.col, rc.col]))), shape=(2 * n, r.shape[1]))
        if getattr(self, "_block_plan", None) is None:
            self._block_plan = BlockPlan(self._j0, self._partition)
        bi = self._block_plan.inverse(self._load_terms(d), real_r, splu=_splu)
        kept.append((key, e, bi))
        del kept[:-BLOCK_KEEP]
        self._n_bi = self.n_block_inverses + 1
        return bi

    def _flex_directions(self, e: np.ndarray) -> sp.csr_matrix:
        """The directions `e` at the injection nodes (sparse, kW per unit), kept for the last
        `e` seen."""
        hit = getattr(self, "_fe_cache", None)
        if hit is None or hit[0] is not e:
            fe = (self._flex_map @ sp.csr_matrix(e)).tocsr()
            self._fe_cache = hit = (e, fe)
        return hit[1]

    def _lhs(self, d: np.ndarray) -> np.ndarray:
        """Real form of ``I + Z_KK diag(d) conj`` (dense solver)."""
        w = self._z_kk * d[None, :]
        nk = len(self._k)
        lhs = np.empty((2 * nk, 2 * nk))
        lhs[:nk, :nk] = w.real
        lhs[:nk, nk:] = w.imag
        lhs[nk:, :nk] = w.imag
        lhs[nk:, nk:] = -w.real
        lhs.flat[:: 2 * nk + 1] += 1.0
        return lhs

    def _solve_sparse_t(self, d: np.ndarray, rhs: np.ndarray, rtol: float = MODEL_RTOL,
                        max_iter: int = 30) -> np.ndarray:
        """``(J0 + D)^-T rhs`` (real form, all nodes), by the iteration of :meth:`_solve_sparse`
        on the transposed system."""
        if rhs.shape[1] >= SPARSE_LU_COLUMNS:
            return _solve(self._sparse_lu(d), rhs, trans="T")
        dmt = self._load_terms(d).T.tocsr()
        x = _solve(self._lu0, rhs, trans="T")
        scale = np.abs(x).max() or 1.0
        for _ in range(max_iter):
            x_new = _solve(self._lu0, rhs - dmt @ x, trans="T")
            change = np.abs(x_new - x).max()
            x = x_new
            if change <= rtol * scale:
                return x
        return _solve(self._sparse_lu(d), rhs, trans="T")

    def _load_terms(self, d: np.ndarray) -> sp.csr_matrix:
        """The load terms ``D`` (real form) for `d`: the sparsity pattern is built once, each
        call only fills in the values."""
        n = self.n_nodes
        vals = np.concatenate([d.real, d.imag, d.imag, -d.real])
        if getattr(self, "_d_pattern", None) is None:
            order = sp.csr_matrix((np.arange(1.0, len(vals) + 1), (self._d_rows, self._d_cols)),
                                  shape=(2 * n, 2 * n))
            self._d_pattern = (order.indices.copy(), order.indptr.copy(),
                               order.data.astype(int) - 1)
        indices, indptr, perm = self._d_pattern
        return sp.csr_matrix((vals[perm], indices, indptr), shape=(2 * n, 2 * n))

    def _sparse_lu(self, d: np.ndarray):
        """Sparse LU of the real Jacobian ``J0 + D`` (sparse solver)."""
        return SparseFactor((self._j0 + self._load_terms(d)).tocsc())

    def _solve_sparse(self, d: np.ndarray, r: np.ndarray, rtol: float = 1e-10,
                      max_iter: int = 30, lu=None) -> np.ndarray:
        """dV (all nodes, per column of r) from the sparse real Jacobian ``J0 + D``.

        ``J0`` (the network's Y in real form) is factorised once; the load
        terms ``D`` (diagonal blocks at the injection nodes, small next to the
        network admittances) are handled by the iteration
        ``x <- J0^-1 (rhs - D x)``, with a direct sparse LU of ``J0 + D`` if it
        does not converge.  With `lu` (:meth:`_sparse_lu` of the same `d`),
        one direct solve instead.
        """
        n = self.n_nodes
        rhs = np.zeros((2 * n, r.shape[1]))
        rhs[self._k] = r.real
        rhs[n + self._k] = r.imag
        if lu is not None:
            x = _solve(lu, rhs)
            return x[:n] + 1j * x[n:]
        dm = self._load_terms(d)
        x = _solve(self._lu0, rhs)
        scale = np.abs(x).max() or 1.0
        for _ in range(max_iter):
            x_new = _solve(self._lu0, rhs - dm @ x)
            change = np.abs(x_new - x).max()
            x = x_new
            if change <= rtol * scale:
                break
        else:
            x = _solve(_splu((self._j0 + dm).tocsc()), rhs)
        return x[:n] + 1j * x[n:]

    # ------------------------------------------------------- finite difference
    def finite_difference(self, solve: Callable[[np.ndarray], object], p_kw: np.ndarray | float,
                          directions: np.ndarray | None = None, delta_kw: float = 0.01,
                          central: bool = False, y0: np.ndarray | None = None) -> Linearisation:
        """Sensitivities from perturbation runs (full power flows).

        Parameters
        ----------
        solve : callable
            ``solve(p_flex_kw)`` applies the flexible customers' power (kW,
            load sign) and runs one power flow, e.g. ``PowerFlowEvaluator.solve``.
        p_kw : array or float
            Operating point (kW, load sign).
        directions : ndarray, shape (n_flex, k), optional
            Directions of change (identity if omitted).
        delta_kw : float
            Perturbation (kW) along each direction.
        central : bool
            Central differences (two runs per direction) instead of forward.
        y0 : ndarray, optional
            Quantities at `p_kw` if already known (saves the base run of
            forward differences).

        Returns
        -------
        Linearisation
            ``n_powerflows`` counts the runs.  The network is left at the last
            perturbed state.
        """
        e = np.eye(self.n_flex) if directions is None else np.asarray(directions, dtype=float)
        p0 = np.broadcast_to(np.asarray(p_kw, dtype=float), (self.n_flex,)).copy()
        n = 0
        if y0 is None:
            solve(p0)
            n += 1
            y0 = self.quantities()
        dy = np.empty((len(y0), e.shape[1]))
        for j in range(e.shape[1]):
            solve(p0 + delta_kw * e[:, j])
            n += 1
            yp = self.quantities()
            if central:
                solve(p0 - delta_kw * e[:, j])
                n += 1
                dy[:, j] = (yp - self.quantities()) / (2 * delta_kw)
            else:
                dy[:, j] = (yp - y0) / delta_kw
        return Linearisation(np.asarray(y0, dtype=float), dy, p0, "fd", n)


class LocalModel:
    """The power flow around a solved state, to higher order, without running it.

    Made by :meth:`SensitivityModel.analytic` (attribute ``model`` of the
    :class:`Linearisation`).  For a step ``c`` of the flexible customers'
    power along the directions (kW per direction, load sign), the voltages
    solve ``Y V = conj(S / V)`` with constant-power injections ``S``;
    expanding ``V(c) = V + sum_n V_n(c)`` in powers of the step, every term
    solves the linearised system of the first-order sensitivities with a
    right-hand side made of the lower-order terms::

        Y V_n + D conj(V_n) = I h_n + conj(dS) / conj(V) g_(n-1)

    with ``I`` the injected currents, ``g`` the power series of
    ``1 / (1 + conj(sum V_m) / conj(V))`` and ``h_n = g_n + conj(V_n) / conj(V)``
    (made of lower orders only).  Each order costs one solve with the
    factorisation already used by the linearisation (no power flow; with the
    sparse solver, an iteration as for the sensitivities, or one solve with
    a factorisation of ``J0 + D`` made for many directions).  Each order
    shrinks the prediction error by a large factor; the default order is
    :data:`SERIES_ORDER` (accuracy tested against power flows).

    :meth:`predict` gives the monitored quantities after a step,
    :meth:`linearise` the linearisation at the predicted state (the same
    analytic formulas, at the predicted voltages: how the sensitivities
    change along the step).
    """

    def __init__(self, sens: "SensitivityModel", e: np.ndarray, p_kw: np.ndarray, vk: np.ndarray,
                 s_inj: np.ndarray, xm: np.ndarray, r: np.ndarray, dvk: np.ndarray,
                 dxm: np.ndarray | None,
                 solve: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], lu=None):
        self._sens, self.e, self.p_kw = sens, e, p_kw
        self._lu = lu                                   # sparse LU at this state (if made)
        self._vk, self._s_inj, self._xm = vk, s_inj, xm
        self._r, self._dvk, self._dxm, self._solve = r, dvk, dxm, solve
        self._i = np.conj(s_inj) / np.conj(vk)         # injected current at K (A)
        self._last: tuple | None = None                 # (c, order, state) of the last call

    def state(self, c: np.ndarray, order: int = SERIES_ORDER) -> tuple[np.ndarray, np.ndarray]:
        """Predicted complex injection-node voltages (V) and monitored quantities (V, A) after
        the step `c` (kW per direction, load sign), from the series up to `order`."""
        c = np.asarray(c, dtype=float)
        if self._last is not None and self._last[1] == order and np.array_equal(self._last[0], c):
            return self._last[2]
        vk, r1 = self._vk, self._r @ c
        if self._dvk is None:                           # matrix-free: the first order is a solve
            dvk, dxm = self._solve(r1)
        else:
            dvk, dxm = self._dvk @ c, self._dxm @ c
        u = [np.zeros_like(vk), np.conj(dvk) / np.conj(vk)]     # conj(V_n) / conj(V)
        g = [np.ones_like(vk), -u[1]]                             # series of 1 / (1 + sum u)
        vk_out, xm_out = vk + dvk, self._xm + dxm
        for n in range(2, order + 1):
            h = -sum(u[m] * g[n - m] for m in range(1, n))
            vkn, xmn = self._solve(self._i * h + r1 * g[n - 1])
            u.append(np.conj(vkn) / np.conj(vk))
            g.append(h - u[n])
            vk_out, xm_out = vk_out + vkn, xm_out + xmn
        self._last = (c.copy(), order, (vk_out, xm_out))
        return vk_out, xm_out

    def predict(self, c: np.ndarray, order: int = SERIES_ORDER) -> np.ndarray:
        """Predicted monitored quantities (V, A; as ``Linearisation.y``) after the step `c`."""
        return np.abs(self.state(c, order)[1])

    def linearise(self, c: np.ndarray, order: int = SERIES_ORDER) -> Linearisation:
        """The analytic linearisation at the state predicted after the step `c` (no power flow)."""
        c = np.asarray(c, dtype=float)
        vk, xm = self.state(c, order)
        ds = -W_PER_KW * np.asarray(self._sens._flex_map @ (self.e @ c)).ravel()
        return self._sens._linearise_state(vk, self._s_inj + ds, xm, self.p_kw + self.e @ c, self.e,
                                           rtol=MODEL_RTOL)

    def gradient(self, c: np.ndarray, q_idx: np.ndarray, order: int = SERIES_ORDER) -> np.ndarray:
        """Sensitivities (per direction) of the monitored quantities `q_idx` at the state
        predicted after the step `c`: rows of ``linearise(c).dy_dp``, by the adjoint when
        there are fewer quantities than directions."""
        c = np.asarray(c, dtype=float)
        q_idx = np.asarray(q_idx, dtype=int)
        if self._dvk is None:
            # matrix-free (SensitivityModel.analytic_rows): always the adjoint, kinks included
            at = not np.any(c)
            vk, xm = (self._vk, self._xm) if at else self.state(c, order)
            ds = -W_PER_KW * np.asarray(self._sens._flex_map @ (self.e @ c)).ravel()
            return self._sens._row_gradients(vk, self._s_inj + ds, xm, self.e, q_idx, kinks=True,
                                             lu=self._lu if at else None)
        if len(q_idx) < self.e.shape[1]:
            vk, xm = self.state(c, order)
            ds = -W_PER_KW * np.asarray(self._sens._flex_map @ (self.e @ c)).ravel()
            g = self._sens._row_gradients(vk, self._s_inj + ds, xm, self.e, q_idx)
            if g is not None:
                return g
        return self.linearise(c, order).dy_dp[q_idx]


#: below this magnitude (A or V) |x| counts as at its kink at zero
KINK = 1e-3


def _solve(lu, rhs: np.ndarray, trans: str = "N") -> np.ndarray:
    """``lu.solve(rhs, trans)`` by :data:`SOLVE_CHUNK` columns at a time (the same solution;
    one call with 1,000 columns costs 8.3 ms per column on the 2,000-customer feeder, by 16
    columns 0.15 ms)."""
    if rhs.ndim == 1 or rhs.shape[1] <= SOLVE_CHUNK:
        return lu.solve(rhs, trans=trans)
    parts = [lu.solve(np.ascontiguousarray(rhs[:, k:k + SOLVE_CHUNK]), trans=trans)
             for k in range(0, rhs.shape[1], SOLVE_CHUNK)]
    return np.hstack(parts)


def _splu(a: sp.csc_matrix):
    """Sparse LU of `a` with :data:`SPLU_OPTIONS`."""
    return spl.splu(a, **SPLU_OPTIONS)


class SparseFactor:
    """A sparse LU of `a` (:func:`_splu`) whose solves take SuperLU's faster route.

    scipy's SuperLU solves one right-hand side about twice as fast transposed as plain, and
    many right-hand sides faster plain than transposed.  Measured (scipy 1.17, one BLAS
    thread, 2026-12-04) on the real-form Jacobian of the 2,000-customer feeder (8,104
    unknowns): one column 0.79 ms plain, 0.33 ms transposed; 16 columns 3.7 ms plain,
    6.4 ms transposed; on the MV-LV feeder's (67,134) one column 6.2 / 3.6 ms.  A solve
    ``a x = b`` is also ``(a^T)^T x = b``, a transposed solve with the factor of ``a^T``
    (one column 0.33 ms), and ``a^T x = b`` a plain one with it (16 columns 2.6 ms).
    So the factor is of `a` or of ``a^T``, chosen at the first solve to make that solve's
    route the fast one (transposed for one column, plain for many): the local model's
    one-column series steps and the adjoint's transposed blocks of rows both get the factor
    of ``a^T``, a multi-column plain solve (every direction's sensitivities) that of `a`.
    The solutions agree with one factor's to the rounding (the pivots may differ)."""

    def __init__(self, a: sp.spmatrix):
        self._a = a                      # factorised at the first solve
        self._lu = None
        self._transposed = False

    def solve(self, b: np.ndarray, trans: str = "N") -> np.ndarray:
        """``a^-1 b`` (``trans="N"``) or ``a^-T b`` (``"T"``), as SuperLU's ``solve``."""
        single = b.ndim == 1 or b.shape[1] == 1
        if self._lu is None:
            # the factor of a^T when this solve is then the fast route
            self._transposed = single == (trans == "N")
            a = self._a.T if self._transposed else self._a
            self._lu = _splu(sp.csc_matrix(a))
            self._a = None
        if self._transposed:
            trans = "N" if trans == "T" else "T"
        return self._lu.solve(b, trans=trans)


def _dmag(x: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Derivative of |x| for complex x along complex changes dx (rows of dx per entry of x).

    Where |x| is (nearly) zero, e.g. the service-cable current of a flexible
    customer at 0 kW, the magnitude is not differentiable; its growth
    ``|dx|`` when moving away from zero (in either direction) is used instead,
    which is what a step of the envelope away from 0 kW sees.
    """
    mag = np.abs(x)
    small = mag < KINK
    out = (np.conj(x)[:, None] * dx).real / np.where(small, 1.0, mag)[:, None]
    if small.any():
        out[small] = np.abs(dx[small])
    return out


def _fixed_point(w: np.ndarray, b: np.ndarray, max_iter: int = 40) -> np.ndarray | None:
    """The solution of ``x + w conj(x) = b`` (complex; `b` one column per direction) by a
    fixed-point iteration, or None if it does not settle.

    The dense solver's system ``(I + Z_KK diag(d) conj) dV = Z_KK r``: the load terms ``w``
    are small against the network (the spectral radius of ``x -> w conj(x)`` is ~0.05 on the
    Test LV Circuit at 0 kW), so a few products settle it to machine precision, where
    factorising the real form costs more for one or two directions.  Two steps of
    ``x <- b - w conj(x)`` at once: ``x <- c + M x`` with ``c = b - w conj(b)`` and the
    complex-linear ``M = w conj(w)`` (made once, its radius the square: half the
    iterations).  None (factorise instead) when the steps stop shrinking.
    """
    c = b - w @ np.conj(b)
    m = w @ np.conj(w)
    x = c
    scale = float(np.abs(b).max()) or 1.0
    last = np.inf
    for _ in range(max_iter):
        x_new = c + m @ x
        step = float(np.abs(x_new - x).max())
        x = x_new
        if step <= DENSE_ITER_RTOL * scale:
            return x
        if step >= 0.5 * last:
            return None
        last = step
    return None
