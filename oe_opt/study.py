"""Study model files (TOML): reading and validation.

A study names the network, the profiles, the customer classes, the limits and
the envelope settings.  Paths inside a study are relative to the study file.
Every problem is reported as a :class:`~oe_opt.errors.StudyError` naming the
file and the field.
"""

from __future__ import annotations

import datetime
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from oe_opt.errors import StudyError
from oe_opt.model.allocations import allocation_names

DIRECTIONS = ("export", "import")
#: what an envelope guarantees (``[envelope] holds_for``): ``full_use`` — every limit holds with
#: every flexible customer at its envelope at once (the tutorial's definition); ``any_use`` — for
#: every combination of uses in [0, OE_i] by the flexible customers (the default)
HOLDS_FOR = ("full_use", "any_use")
#: which LP bound ``alloc``'s fast core (``max_total`` at feeder scale,
#: :mod:`oe_opt.methods.alloc_fast`) accepts a verified candidate against
#: (``[envelope] alloc_accept``): ``model`` — the LP's at the state it was linearised from;
#: ``own_state`` — only the LP's at its own state (one more linearisation per accepted point);
#: ``auto`` (the default) — ``own_state`` after a linearisation whose LP rounds needed a row's
#: tangent, else ``model``
ALLOC_ACCEPT = ("auto", "model", "own_state")
ASSIGNMENTS = ("tutorial", "seeded")
PROFILE_SOURCES = ("files", "network")


@dataclass(frozen=True)
class NetworkSpec:
    """Where the OpenDSS network is and how its source is driven."""

    master: Path
    source_pu: float | None = None
    #: ``[network] source_table`` (or its older name ``source_pu_table``): one pu value per
    #: period, or magnitude and angle per Vsource per period (:mod:`oe_opt.inputs.case`)
    source_pu_table: Path | None = None
    voltage_bases_kv: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ProfileSpec:
    """Demand and PV time series and how they are assigned to customers."""

    source: str = "files"
    load: Path | None = None
    pv: Path | None = None
    day: int = 0
    assignment: str = "seeded"
    seed: int = 0


@dataclass(frozen=True)
class FlexibleQ:
    """Reactive power of the flexible customers (``[customers] flexible_q``).

    Attributes
    ----------
    mode : str
        ``zero`` (Q = 0, the tutorial), ``pf`` (fixed power factor) or ``volt_var``
        (Q from the customer's voltage, and optionally a volt-watt limit on its
        export; :data:`VOLT_VAR_CURVES`, :data:`VOLT_WATT_CURVES` or points).
    pf : float
        Power factor of the ``pf`` mode (0 < pf <= 1).
    absorb : bool
        ``pf`` mode: the customer absorbs (consumes) reactive power in both
        directions (``mode = "absorb"``, lowering its voltage), else injects it
        (``mode = "inject"``): ``Q = ±|P| tan(acos(pf))``.
    """

    mode: str = "zero"
    pf: float = 1.0
    absorb: bool = True
    #: ``volt_var`` mode: the curve as (V, % of rated VA) points, V increasing; + = reactive
    #: power supplied (injected), - = absorbed
    volt_var: tuple[tuple[float, float], ...] = ()
    #: the curve's name (``as4777_a``, ``as4777_b``) or ``points``
    curve: str = ""
    #: volt-watt curve of exporting inverters, (V, % of rated power) points; () = none
    volt_watt: tuple[tuple[float, float], ...] = ()

    def q_per_kw(self) -> float:
        """kvar per kW of |P| (load sign: positive = absorbed); 0 unless ``pf`` mode."""
        if self.mode != "pf":
            return 0.0
        t = math.tan(math.acos(self.pf))
        return t if self.absorb else -t


@dataclass(frozen=True)
class CustomerSpec:
    """Customer classes: flexible, fixed with DER, fixed without DER."""

    flexible: tuple[str, ...]
    fixed_der: tuple[str, ...] = ()
    fixed: tuple[str, ...] | None = None
    der_kw: dict[str, float] = field(default_factory=dict)
    fixed_pf: float = 0.95
    export_max_kw: dict[str, float] = field(default_factory=dict)
    import_max_kw: dict[str, float] = field(default_factory=dict)
    export_weight: dict[str, float] = field(default_factory=dict)
    import_weight: dict[str, float] = field(default_factory=dict)
    flexible_q: FlexibleQ = FlexibleQ()
    #: flexible customers' inverter rating (kVA) for volt-var (default: the export cap)
    flexible_kva: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LimitSpec:
    """Network limits: customer voltages (V) and thermal loadings (%)."""

    v_min_v: float = 216.0
    v_max_v: float = 253.0
    line_max_pct: float = 100.0
    transformer_max_pct: float = 100.0
    #: voltage unbalance factor limit (%) at every three-phase bus; None = not checked
    vuf_max_pct: float | None = None
    #: MV bus voltage limits (pu of the bus's kV base); None = not checked
    mv_v_min_pu: float | None = None
    mv_v_max_pu: float | None = None

    @property
    def checks_vuf(self) -> bool:
        return self.vuf_max_pct is not None

    @property
    def checks_mv_voltage(self) -> bool:
        return self.mv_v_min_pu is not None or self.mv_v_max_pu is not None


@dataclass(frozen=True)
class EnvelopeSpec:
    """Envelope caps, search step, method and definition (``holds_for``, :data:`HOLDS_FOR`)."""

    export_max_kw: float = 10.0
    import_max_kw: float = 14.0
    step_kw: float = 1.0
    method: str = "lp"
    allocation: str = "equal"
    directions: tuple[str, ...] = DIRECTIONS
    tolerance_kw: float = 0.001
    holds_for: str = "any_use"
    alloc_accept: str = "auto"


@dataclass(frozen=True)
class Study:
    """A complete, validated study model."""

    path: Path
    name: str
    network: NetworkSpec
    profiles: ProfileSpec
    customers: CustomerSpec
    limits: LimitSpec
    envelope: EnvelopeSpec
    #: calendar date of the profile data's day index 0 (None: day indices only)
    start_date: datetime.date | None = None
    #: IANA time zone of the time stamps (None: UTC)
    timezone: str | None = None

    def with_day(self, day: int | None) -> "Study":
        """Return a copy of the study for another day (0-based index)."""
        if day is None:
            return self
        if day < 0:
            raise StudyError(f"{self.path}: --day {day} must be >= 0")
        return replace(self, profiles=replace(self.profiles, day=int(day)))

    def with_method(self, method: str | None) -> "Study":
        """Return a copy of the study with another search/optimisation method."""
        if method is None:
            return self
        return replace(self, envelope=replace(self.envelope, method=method))

    def with_holds_for(self, holds_for: str | None) -> "Study":
        """Return a copy of the study with another envelope definition (:data:`HOLDS_FOR`)."""
        return self._with_envelope_choice("holds_for", holds_for, HOLDS_FOR, "--holds-for")

    def with_alloc_accept(self, accept: str | None) -> "Study":
        """Return a copy with another ``[envelope] alloc_accept`` (:data:`ALLOC_ACCEPT`)."""
        return self._with_envelope_choice("alloc_accept", accept, ALLOC_ACCEPT, "--alloc-accept")

    def with_allocation(self, allocation: str | None) -> "Study":
        """Return a copy of the study with another allocation objective."""
        return self._with_envelope_choice("allocation", allocation, allocation_names(),
                                          "allocation")

    def _with_envelope_choice(self, field_name: str, value: str | None,
                              choices: tuple[str, ...], option: str) -> "Study":
        """A copy with ``envelope.<field_name>`` set to `value` (None: this study), which must
        be one of `choices`; the error names `option` (the command line's spelling)."""
        if value is None:
            return self
        if value not in choices:
            raise StudyError(f"{option} {value!r} is not one of {', '.join(choices)}")
        return replace(self, envelope=replace(self.envelope, **{field_name: value}))


class _Table:
    """A TOML table with typed getters whose errors name file and field."""

    def __init__(self, path: Path, name: str, data: dict[str, Any]):
        self.path, self.name, self.data = path, name, data

    def where(self, key: str) -> str:
        return f"{self.path}: [{self.name}] {key}"

    def _get(self, key: str, required: bool, default: Any) -> Any:
        if key not in self.data:
            if required:
                raise StudyError(f"{self.where(key)} is required but missing")
            return default
        return self.data[key]

    def number(self, key: str, default: float | None = None, required: bool = False,
               positive: bool = False, nonneg: bool = False) -> float | None:
        value = self._get(key, required, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StudyError(f"{self.where(key)} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise StudyError(f"{self.where(key)} must be finite, got {value!r}")
        if positive and value <= 0:
            raise StudyError(f"{self.where(key)} must be > 0, got {value!r}")
        if nonneg and value < 0:
            raise StudyError(f"{self.where(key)} must be >= 0, got {value!r}")
        return value

    def integer(self, key: str, default: int | None = None, required: bool = False) -> int | None:
        value = self._get(key, required, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise StudyError(f"{self.where(key)} must be an integer, got {value!r}")
        return value

    def string(self, key: str, default: str | None = None, required: bool = False,
               choices: tuple[str, ...] | None = None) -> str | None:
        value = self._get(key, required, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise StudyError(f"{self.where(key)} must be a string, got {value!r}")
        if choices is not None and value not in choices:
            raise StudyError(f"{self.where(key)} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def path_(self, key: str, required: bool = False, must_exist: bool = True) -> Path | None:
        value = self.string(key, required=required)
        if value is None:
            return None
        resolved = (self.path.parent / value).resolve()
        if must_exist and not resolved.exists():
            raise StudyError(f"{self.where(key)}: file not found: {resolved}")
        return resolved

    def names(self, key: str, required: bool = False) -> tuple[str, ...] | None:
        value = self._get(key, required, None)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise StudyError(f"{self.where(key)} must be a list of customer (load) names")
        names = tuple(v.strip().lower() for v in value)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise StudyError(f"{self.where(key)} lists {', '.join(dup)} more than once")
        return names

    def per_customer(self, key: str, names: tuple[str, ...], default: float | None,
                     positive: bool = True) -> dict[str, float]:
        """A number for every customer in `names`: one value, or a table by name."""
        value = self._get(key, False, default)
        if value is None:
            return {}
        if isinstance(value, dict):
            unknown = sorted(set(k.lower() for k in value) - set(names))
            if unknown:
                raise StudyError(f"{self.where(key)} names {', '.join(unknown)}, "
                                 f"which are not in this class of customers")
            out = {}
            for n in names:
                v = {k.lower(): x for k, x in value.items()}.get(n, default)
                if v is None:
                    raise StudyError(f"{self.where(key)} has no value for {n}")
                out[n] = _checked(self.where(f"{key}.{n}"), v, positive)
            return out
        v = _checked(self.where(key), value, positive)
        return {n: v for n in names}

    def unknown_keys(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise StudyError(f"{self.path}: [{self.name}] unknown key(s) {', '.join(extra)}; "
                             f"allowed: {', '.join(sorted(allowed))}")


def _checked(where: str, value: Any, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StudyError(f"{where} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise StudyError(f"{where} must be > 0, got {value!r}")
    if value < 0:
        raise StudyError(f"{where} must be >= 0, got {value!r}")
    return float(value)


FLEXIBLE_Q_MODES = ("absorb", "inject")

#: AS/NZS 4777.2:2020 volt-var response curves (V, % of rated VA; + supplied, - absorbed), as
#: implemented in public OE code (the University of Melbourne OE notebooks) and given in
#: issue 12 (the standard's own text was not available here to check them against its tables)
VOLT_VAR_CURVES = {
    "as4777_a": ((207.0, 44.0), (220.0, 0.0), (240.0, 0.0), (258.0, -60.0)),
    "as4777_b": ((205.0, 30.0), (220.0, 0.0), (235.0, 0.0), (255.0, -40.0)),
}


#: AS/NZS 4777.2:2020 volt-watt response of exporting inverters (V, % of rated power), Australia A
#: as implemented in public OE code and given in issue 12 (253 V 100 %, 260 V 20 %); no named
#: volt-watt curve for Australia B (its points were not available to check here)
VOLT_WATT_CURVES = {"as4777_a": ((253.0, 100.0), (260.0, 20.0))}


def _curve_points(where: str, value) -> tuple[tuple[float, float], ...]:
    ok = isinstance(value, list) and len(value) >= 2 and all(
        isinstance(p, list) and len(p) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in p)
        for p in value)
    if not ok:
        raise StudyError(f"{where} must be a list of at least two [volts, percent] points")
    pts = tuple((float(v), float(q)) for v, q in value)
    v = [p[0] for p in pts]
    if any(b <= a for a, b in zip(v, v[1:])):
        raise StudyError(f"{where}: the voltages must increase, got {v}")
    if not all(50 <= x <= 1000 for x in v) or not all(-100 <= p[1] <= 100 for p in pts):
        raise StudyError(f"{where}: points must be customer voltages in V (50-1000) and percent "
                         f"of rated VA (-100..100)")
    return pts


def _flexible_q(ct: _Table) -> FlexibleQ:
    """``[customers] flexible_q``: ``"zero"``, ``{ pf = 0.95, mode = "absorb" | "inject" }``, a
    curve name (``"as4777_a"``, ``"as4777_b"``) or ``{ volt_var = [[V, %], ...], volt_watt = ... }``."""
    value = ct.data.get("flexible_q", "zero")
    where = ct.where("flexible_q")
    if value == "zero":
        return FlexibleQ()
    if isinstance(value, str):
        if value in VOLT_VAR_CURVES:
            return FlexibleQ("volt_var", volt_var=VOLT_VAR_CURVES[value], curve=value,
                             volt_watt=VOLT_WATT_CURVES.get(value, ()))
        raise StudyError(f"{where} must be \"zero\", {', '.join(map(repr, VOLT_VAR_CURVES))}, "
                         f"{{ pf = 0.95, mode = \"absorb\" }} or {{ volt_var = [[V, %], ...] }}, "
                         f"got {value!r}")
    if not isinstance(value, dict):
        raise StudyError(f"{where} must be \"zero\", a curve name or a table")
    if "volt_var" in value or "volt_watt" in value:
        extra = sorted(set(value) - {"volt_var", "volt_watt"})
        if extra:
            raise StudyError(f"{where} has unknown key(s) {', '.join(extra)}; allowed with "
                             f"curves: volt_var, volt_watt")
        vv = (_curve_points(f"{where}.volt_var", value["volt_var"]) if "volt_var" in value
              else ((50.0, 0.0), (1000.0, 0.0)))   # no Q: volt-watt only
        vw = ()
        if "volt_watt" in value:
            vw = _curve_points(f"{where}.volt_watt", value["volt_watt"])
            if any(p[1] < 0 for p in vw):
                raise StudyError(f"{where}.volt_watt: percent of rated power must be >= 0")
        return FlexibleQ("volt_var", volt_var=vv, curve="points", volt_watt=vw)
    extra = sorted(set(value) - {"pf", "mode"})
    if extra:
        raise StudyError(f"{where} has unknown key(s) {', '.join(extra)}; allowed: mode, pf")
    pf = value.get("pf")
    if isinstance(pf, bool) or not isinstance(pf, (int, float)) or not 0 < pf <= 1:
        raise StudyError(f"{where}.pf must be a power factor in (0, 1], got {pf!r}")
    mode = value.get("mode", "absorb")
    if mode not in FLEXIBLE_Q_MODES:
        raise StudyError(f"{where}.mode must be one of {', '.join(FLEXIBLE_Q_MODES)}, got {mode!r}")
    return FlexibleQ("pf", float(pf), mode == "absorb")


def _table(path: Path, raw: dict[str, Any], name: str, required: bool = True) -> _Table:
    data = raw.get(name)
    if data is None:
        if required:
            raise StudyError(f"{path}: table [{name}] is required but missing")
        data = {}
    if not isinstance(data, dict):
        raise StudyError(f"{path}: [{name}] must be a table")
    return _Table(path, name, data)


def load_study(path: str | Path) -> Study:
    """Read and validate a study model file.

    Parameters
    ----------
    path : str or Path
        The TOML study file.  Relative paths inside it are resolved against
        the file's folder.

    Returns
    -------
    Study
        The validated study.

    Raises
    ------
    StudyError
        If the file is missing, is not valid TOML, or any field is missing or
        out of range.  The message names the file and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"study file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise StudyError(f"{path}: not a UTF-8 text file (byte {exc.start}: "
                         f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8") from exc
    path = path.resolve()
    allowed_tables = {"study", "network", "profiles", "customers", "limits", "envelope"}
    extra = sorted(set(raw) - allowed_tables)
    if extra:
        raise StudyError(f"{path}: unknown table(s) {', '.join(extra)}")

    st = _table(path, raw, "study", required=False)
    st.unknown_keys({"name", "description", "start_date", "timezone"})
    name = st.string("name", default=path.stem)
    start_date, timezone = _calendar(st)

    nt = _table(path, raw, "network")
    nt.unknown_keys({"master", "source_pu", "source_pu_table", "source_table", "voltage_bases_kv"})
    if "source_pu_table" in nt.data and "source_table" in nt.data:
        raise StudyError(f"{path}: [network] give source_table or source_pu_table (the same "
                         f"setting), not both")
    table_key = "source_table" if "source_table" in nt.data else "source_pu_table"
    bases = nt.data.get("voltage_bases_kv")
    if bases is not None and (not isinstance(bases, list) or not bases or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in bases)):
        raise StudyError(f"{nt.where('voltage_bases_kv')} must be a list of positive kV values")
    network = NetworkSpec(
        master=nt.path_("master", required=True),
        source_pu=nt.number("source_pu", positive=True),
        source_pu_table=nt.path_(table_key),
        voltage_bases_kv=tuple(float(b) for b in bases) if bases else None,
    )
    if network.source_pu is not None and not 0.5 <= network.source_pu <= 1.5:
        raise StudyError(f"{nt.where('source_pu')} = {network.source_pu} is not a plausible "
                         f"per-unit voltage (0.5–1.5)")

    pt = _table(path, raw, "profiles")
    pt.unknown_keys({"source", "load", "pv", "day", "assignment", "seed"})
    source = pt.string("source", default="files", choices=PROFILE_SOURCES)
    # with network loadshapes a daily shape is one day: day 0 unless given
    day = pt.integer("day", required=source == "files", default=0)
    if day < 0:
        raise StudyError(f"{pt.where('day')} must be >= 0 (0-based day index), got {day}")
    profiles = ProfileSpec(
        source=source,
        load=pt.path_("load", required=source == "files"),
        pv=pt.path_("pv", required=source == "files"),
        day=day,
        assignment=pt.string("assignment", required=source == "files", default="seeded",
                             choices=ASSIGNMENTS),
        seed=pt.integer("seed", default=0),
    )

    ct = _table(path, raw, "customers")
    ct.unknown_keys({"flexible", "fixed_der", "fixed", "der_kw", "fixed_pf", "export_max_kw",
                     "import_max_kw", "export_weight", "import_weight", "flexible_q", "flexible_kva"})
    flexible_q = _flexible_q(ct)
    flexible = ct.names("flexible", required=True)
    if not flexible:
        raise StudyError(f"{ct.where('flexible')} must name at least one customer")
    fixed_der = ct.names("fixed_der") or ()
    fixed = ct.names("fixed")
    classes = {"flexible": flexible, "fixed_der": fixed_der, "fixed": fixed or ()}
    seen: dict[str, str] = {}
    for cls, names in classes.items():
        for n in names:
            if n in seen:
                raise StudyError(f"{path}: [customers] {n} is in both {seen[n]} and {cls}")
            seen[n] = cls
    fixed_pf = ct.number("fixed_pf", default=0.95)
    if not 0 < fixed_pf <= 1:
        raise StudyError(f"{ct.where('fixed_pf')} must be in (0, 1], got {fixed_pf}")

    lt = _table(path, raw, "limits")
    lt.unknown_keys({"v_min_v", "v_max_v", "line_max_pct", "transformer_max_pct", "vuf_max_pct",
                     "mv_v_min_pu", "mv_v_max_pu"})
    limits = LimitSpec(
        v_min_v=lt.number("v_min_v", required=True, positive=True),
        v_max_v=lt.number("v_max_v", required=True, positive=True),
        line_max_pct=lt.number("line_max_pct", default=100.0, positive=True),
        transformer_max_pct=lt.number("transformer_max_pct", default=100.0, positive=True),
        vuf_max_pct=lt.number("vuf_max_pct", positive=True),
        mv_v_min_pu=lt.number("mv_v_min_pu", positive=True),
        mv_v_max_pu=lt.number("mv_v_max_pu", positive=True),
    )
    if limits.vuf_max_pct is not None and limits.vuf_max_pct > 100.0:
        raise StudyError(f"{lt.where('vuf_max_pct')} = {limits.vuf_max_pct} is not a plausible "
                         f"unbalance limit (percent, e.g. 2.0)")
    for key in ("mv_v_min_pu", "mv_v_max_pu"):
        v = getattr(limits, key)
        if v is not None and not 0.5 <= v <= 1.5:
            raise StudyError(f"{lt.where(key)} = {v} is not a plausible per-unit voltage (0.5–1.5)")
    if (limits.mv_v_min_pu is not None and limits.mv_v_max_pu is not None
            and limits.mv_v_min_pu >= limits.mv_v_max_pu):
        raise StudyError(f"{path}: [limits] mv_v_min_pu ({limits.mv_v_min_pu}) must be below "
                         f"mv_v_max_pu ({limits.mv_v_max_pu})")
    if limits.v_min_v >= limits.v_max_v:
        raise StudyError(f"{path}: [limits] v_min_v ({limits.v_min_v}) must be below "
                         f"v_max_v ({limits.v_max_v})")
    if not (50 <= limits.v_min_v and limits.v_max_v <= 1000):
        raise StudyError(f"{path}: [limits] v_min_v/v_max_v ({limits.v_min_v}, {limits.v_max_v}) "
                         f"are not plausible customer voltages in volts")

    et = _table(path, raw, "envelope")
    et.unknown_keys({"export_max_kw", "import_max_kw", "step_kw", "method", "allocation",
                     "directions", "tolerance_kw", "holds_for", "alloc_accept"})
    dirs = et.data.get("directions", list(DIRECTIONS))
    if not isinstance(dirs, list) or not dirs or any(d not in DIRECTIONS for d in dirs):
        raise StudyError(f"{et.where('directions')} must be a list drawn from {DIRECTIONS}")
    envelope = EnvelopeSpec(
        export_max_kw=et.number("export_max_kw", required=True, nonneg=True),
        import_max_kw=et.number("import_max_kw", required=True, nonneg=True),
        step_kw=et.number("step_kw", required=True, positive=True),
        method=et.string("method", default="lp"),
        allocation=et.string("allocation", default="equal", choices=allocation_names()),
        directions=tuple(dirs),
        tolerance_kw=et.number("tolerance_kw", default=0.001, positive=True),
        holds_for=et.string("holds_for", default="any_use", choices=HOLDS_FOR),
        alloc_accept=et.string("alloc_accept", default="auto", choices=ALLOC_ACCEPT),
    )
    for d in DIRECTIONS:
        cap = getattr(envelope, f"{d}_max_kw")
        if envelope.step_kw > max(cap, 1e-9) and cap > 0:
            raise StudyError(f"{path}: [envelope] step_kw ({envelope.step_kw}) is larger than "
                             f"{d}_max_kw ({cap})")

    customers = CustomerSpec(
        flexible=flexible,
        fixed_der=fixed_der,
        fixed=fixed,
        der_kw=ct.per_customer("der_kw", fixed_der, default=10.0 if fixed_der else None),
        fixed_pf=fixed_pf,
        export_max_kw=ct.per_customer("export_max_kw", flexible, envelope.export_max_kw,
                                      positive=False),
        import_max_kw=ct.per_customer("import_max_kw", flexible, envelope.import_max_kw,
                                      positive=False),
        export_weight={},
        import_weight={},
        flexible_q=flexible_q,
    )
    # proportional-allocation weights default to the per-customer caps
    # (DER size for exports, import limit for imports)
    customers = replace(customers,
                        export_weight=ct.per_customer("export_weight", flexible, None) or
                        dict(customers.export_max_kw),
                        import_weight=ct.per_customer("import_weight", flexible, None) or
                        dict(customers.import_max_kw),
                        flexible_kva=ct.per_customer("flexible_kva", flexible, None) or
                        {n: max(v, 1e-9) for n, v in customers.export_max_kw.items()})
    for d in DIRECTIONS:
        caps = getattr(customers, f"{d}_max_kw")
        cap = getattr(envelope, f"{d}_max_kw")
        over = [n for n, v in caps.items() if v > cap + 1e-12]
        if over:
            raise StudyError(f"{path}: [customers] {d}_max_kw for {', '.join(over)} exceeds "
                             f"[envelope] {d}_max_kw ({cap})")

    return Study(path=path, name=name, network=network, profiles=profiles,
                 customers=customers, limits=limits, envelope=envelope,
                 start_date=start_date, timezone=timezone)


def _calendar(st: _Table) -> tuple[datetime.date | None, str | None]:
    """``[study] start_date`` (ISO date string or TOML date) and ``timezone`` (IANA name)."""
    from oe_opt.inputs.calendar import zone

    value = st.data.get("start_date")
    start = None
    if value is not None:
        if isinstance(value, datetime.datetime) or not isinstance(value, (str, datetime.date)):
            raise StudyError(f"{st.where('start_date')} must be a date like \"2024-01-01\", "
                             f"got {value!r}")
        try:
            start = value if isinstance(value, datetime.date) else \
                datetime.date.fromisoformat(value)
        except ValueError:
            raise StudyError(f"{st.where('start_date')} must be a date like \"2024-01-01\", "
                             f"got {value!r}") from None
    tz = st.string("timezone")
    if tz is not None:
        try:
            zone(tz)
        except StudyError as exc:
            raise StudyError(f"{st.where('timezone')}: {exc}") from None
    return start, tz
