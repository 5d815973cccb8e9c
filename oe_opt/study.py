"""Study model files (TOML): reading and validation.

A study names the network, the profiles, the customer classes, the limits and
the envelope settings.  Paths inside a study are relative to the study file.
Every problem is reported as a :class:`~oe_opt.errors.StudyError` naming the
file and the field.
"""

from __future__ import annotations

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
ASSIGNMENTS = ("tutorial", "seeded")
PROFILE_SOURCES = ("files", "network")


@dataclass(frozen=True)
class NetworkSpec:
    """Where the OpenDSS network is and how its source is driven."""

    master: Path
    source_pu: float | None = None
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


@dataclass(frozen=True)
class LimitSpec:
    """Network limits: customer voltages (V) and thermal loadings (%)."""

    v_min_v: float = 216.0
    v_max_v: float = 253.0
    line_max_pct: float = 100.0
    transformer_max_pct: float = 100.0


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
        if holds_for is None:
            return self
        if holds_for not in HOLDS_FOR:
            raise StudyError(f"--holds-for {holds_for!r} is not one of {', '.join(HOLDS_FOR)}")
        return replace(self, envelope=replace(self.envelope, holds_for=holds_for))

    def with_allocation(self, allocation: str | None) -> "Study":
        """Return a copy of the study with another allocation objective."""
        if allocation is None:
            return self
        if allocation not in allocation_names():
            raise StudyError(f"allocation {allocation!r} is not one of {', '.join(allocation_names())}")
        return replace(self, envelope=replace(self.envelope, allocation=allocation))


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
    path = path.resolve()
    allowed_tables = {"study", "network", "profiles", "customers", "limits", "envelope"}
    extra = sorted(set(raw) - allowed_tables)
    if extra:
        raise StudyError(f"{path}: unknown table(s) {', '.join(extra)}")

    st = _table(path, raw, "study", required=False)
    st.unknown_keys({"name", "description"})
    name = st.string("name", default=path.stem)

    nt = _table(path, raw, "network")
    nt.unknown_keys({"master", "source_pu", "source_pu_table", "voltage_bases_kv"})
    bases = nt.data.get("voltage_bases_kv")
    if bases is not None and (not isinstance(bases, list) or not bases or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in bases)):
        raise StudyError(f"{nt.where('voltage_bases_kv')} must be a list of positive kV values")
    network = NetworkSpec(
        master=nt.path_("master", required=True),
        source_pu=nt.number("source_pu", positive=True),
        source_pu_table=nt.path_("source_pu_table"),
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
                     "import_max_kw", "export_weight", "import_weight"})
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
    lt.unknown_keys({"v_min_v", "v_max_v", "line_max_pct", "transformer_max_pct"})
    limits = LimitSpec(
        v_min_v=lt.number("v_min_v", required=True, positive=True),
        v_max_v=lt.number("v_max_v", required=True, positive=True),
        line_max_pct=lt.number("line_max_pct", default=100.0, positive=True),
        transformer_max_pct=lt.number("transformer_max_pct", default=100.0, positive=True),
    )
    if limits.v_min_v >= limits.v_max_v:
        raise StudyError(f"{path}: [limits] v_min_v ({limits.v_min_v}) must be below "
                         f"v_max_v ({limits.v_max_v})")
    if not (50 <= limits.v_min_v and limits.v_max_v <= 1000):
        raise StudyError(f"{path}: [limits] v_min_v/v_max_v ({limits.v_min_v}, {limits.v_max_v}) "
                         f"are not plausible customer voltages in volts")

    et = _table(path, raw, "envelope")
    et.unknown_keys({"export_max_kw", "import_max_kw", "step_kw", "method", "allocation",
                     "directions", "tolerance_kw", "holds_for"})
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
    )
    # proportional-allocation weights default to the per-customer caps
    # (DER size for exports, import limit for imports)
    customers = replace(customers,
                        export_weight=ct.per_customer("export_weight", flexible, None) or
                        dict(customers.export_max_kw),
                        import_weight=ct.per_customer("import_weight", flexible, None) or
                        dict(customers.import_max_kw))
    for d in DIRECTIONS:
        caps = getattr(customers, f"{d}_max_kw")
        cap = getattr(envelope, f"{d}_max_kw")
        over = [n for n, v in caps.items() if v > cap + 1e-12]
        if over:
            raise StudyError(f"{path}: [customers] {d}_max_kw for {', '.join(over)} exceeds "
                             f"[envelope] {d}_max_kw ({cap})")

    return Study(path=path, name=name, network=network, profiles=profiles,
                 customers=customers, limits=limits, envelope=envelope)
