"""Publishing envelopes: CSIP-AUS DERControl lists and envoy admin site controls.

The envelopes of a results folder (``envelopes.csv`` with ``start``/``end``
columns, i.e. a study with ``[study] start_date``, and ``run.json``) become,
per flexible customer:

- ``csip-aus``: a CSIP-AUS (IEEE 2030.5, SA TS 5573:2025) ``DERControlList``
  with one ``DERControl`` per period: ``interval`` (start in epoch seconds,
  duration in seconds), ``DERControlBase`` with ``opModExpLimW`` /
  ``opModImpLimW`` as ``ActivePower`` (``value`` × 10^``multiplier`` W,
  ``value`` in the Int16 range, rounded *down* so a published limit never
  exceeds the verified envelope), an ``mRID`` that is the same for the same
  inputs, ``creationTime`` and a ``description`` naming the study and method;
  and, when a default is given, the site's ``DefaultDERControl`` (the
  fallback wherever a period has no control);
- ``envoy-json``: the envoy utility server's admin API ``SiteControlRequest``
  list (start, duration, import/export limits in W, the site group).

Models are envoy-schema's (pydantic / pydantic-xml), so the output parses
back with the same models.  Only verified envelopes with status ``ok`` or
``at_cap`` are published; any other period (infeasible, nonconvergent,
unverified) gets no control for that direction and is listed in
:attr:`Publication.skipped`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pandas as pd

from oe_opt.errors import OEError
from oe_opt.io.results import read_run_info

FORMATS = ("csip-aus", "envoy-json")
PUBLISHED_STATUSES = ("ok", "at_cap")
INT16_MAX = 32767
LIMITS = {"export": "opModExpLimW", "import": "opModImpLimW"}


@dataclass
class Publication:
    """Documents to write: file name -> text, and the periods that got no control."""

    files: dict[str, str] = field(default_factory=dict)
    #: rows ``customer, site, day, period, start, direction, status, verified`` left unpublished
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_controls: int = 0
    n_sites: int = 0


def active_power(watts: float) -> tuple[int, int]:
    """``(value, multiplier)`` with ``value × 10**multiplier <= watts`` and ``|value| <= 32767``.

    The smallest multiplier >= 0 that fits the Int16 range; the value is
    rounded down, so the published limit is at most `watts` and less than
    one unit (10**multiplier W) below it.
    """
    if not math.isfinite(watts) or watts < 0:
        raise OEError(f"cannot publish a limit of {watts!r} W (must be finite and >= 0)")
    m = 0
    while watts / 10 ** m > INT16_MAX:
        m += 1
    return int(math.floor(watts / 10 ** m + 1e-9)), m


def stable_mrid(*parts: object) -> str:
    """A 128-bit hex mRID derived from `parts`: the same inputs give the same mRID."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32].upper()


def read_sites(path: str | Path | None, customers: list[str]) -> pd.DataFrame:
    """Customer -> site mapping: ``customer`` and optional ``site`` (name/LFDI), ``site_group_id``.

    Without a file every customer is its own site named by its load, with
    site group 1, 2, ... in the study's order of flexible customers.

    Raises
    ------
    OEError
        Naming the file and the column or customer at fault.
    """
    default = pd.DataFrame({"customer": customers, "site": customers,
                            "site_group_id": range(1, len(customers) + 1)})
    if path is None:
        return default
    path = Path(path)
    if not path.is_file():
        raise OEError(f"site mapping file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise OEError(f"{path}: cannot read the site mapping ({exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "customer" not in df:
        raise OEError(f"{path}: the site mapping needs a 'customer' column "
                      f"(and 'site' and/or 'site_group_id')")
    df["customer"] = df["customer"].str.strip().str.lower()
    missing = [c for c in customers if c not in set(df.customer)]
    if missing:
        raise OEError(f"{path}: no site for customer(s) {', '.join(missing[:5])}")
    df = df[df.customer.isin(customers)].drop_duplicates("customer").set_index("customer")
    df = df.reindex(customers).reset_index()
    if "site" not in df:
        df["site"] = df["customer"]
    df["site"] = df["site"].fillna(df["customer"]).str.strip()
    if "site_group_id" in df:
        bad = df[~df.site_group_id.fillna("").str.strip().str.fullmatch(r"\d+")]
        if len(bad):
            raise OEError(f"{path}: site_group_id of {bad.customer.iat[0]} must be a whole "
                          f"number, got {bad.site_group_id.iat[0]!r}")
        df["site_group_id"] = df.site_group_id.astype(int)
    else:
        df["site_group_id"] = default.site_group_id
    return df[["customer", "site", "site_group_id"]]


def read_results(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """The envelopes and ``run.json`` of a results folder, checked for absolute times."""
    folder = Path(folder)
    info = read_run_info(folder)
    path = folder / "envelopes.csv"
    if not path.is_file():
        raise OEError(f"{path}: not found")
    env = pd.read_csv(path)
    if "start" not in env or "end" not in env:
        raise OEError(f"{path}: no start/end times; publishing needs absolute time: set "
                      f"[study] start_date (and timezone) in the study and run it again")
    return env, info


def _epoch(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp())


def _periods(env: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, day, period) with each direction's publishable limit (W) or NaN."""
    env = _mark_overlaps(env)
    ok = env.status.isin(PUBLISHED_STATUSES) & env.verified.astype(bool) & env.oe_kw.notna()
    env = env.assign(limit_w=(env.oe_kw * 1000.0).where(ok))
    keys = ["customer", "day", "period", "start", "end"]
    wide = env.drop_duplicates(keys + ["direction"]).set_index(keys + ["direction"])["limit_w"]
    wide = wide.unstack("direction")
    wide.columns.name = None
    return wide.reset_index()


def _mark_overlaps(env: pd.DataFrame) -> pd.DataFrame:
    """Status ``overlaps_next_day`` for periods that start at or after the next day's first period.

    A day of 24 elapsed hours runs past the next local midnight when the
    clocks go forward (a 23-hour day); those periods would overlap the next
    day's controls, so they are not published (the next day's are).
    """
    epoch = env.start.map(_epoch)
    first = epoch.groupby(env.day).min().sort_index()
    later = first[::-1].cummin()[::-1].shift(-1)  # earliest start of any later day
    limit = env.day.map(later)
    over = limit.notna() & (epoch >= limit)
    if not over.any():
        return env
    return env.assign(status=env.status.where(~over, "overlaps_next_day"))


def _skipped(env: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    env = _mark_overlaps(env)
    ok = env.status.isin(PUBLISHED_STATUSES) & env.verified.astype(bool) & env.oe_kw.notna()
    bad = env.loc[~ok, ["customer", "day", "period", "start", "direction", "status", "verified"]]
    return bad.merge(sites[["customer", "site"]], on="customer").reset_index(drop=True)


def csip_aus(env: pd.DataFrame, info: dict, sites: pd.DataFrame, creation_time: int,
             default_export_w: float | None = None,
             default_import_w: float | None = None) -> Publication:
    """CSIP-AUS ``DERControlList`` (and ``DefaultDERControl``) XML documents per site.

    Parameters
    ----------
    env : DataFrame
        Envelope rows with ``start``/``end`` (:func:`read_results`).
    info : dict
        ``run.json`` (study name, method).
    sites : DataFrame
        :func:`read_sites`.
    creation_time : int
        Epoch seconds written as ``creationTime`` (not part of the mRIDs).
    default_export_w, default_import_w : float, optional
        The site's default control (W) when no DERControl is active.

    Returns
    -------
    Publication
        ``<site>/DERControlList.xml`` and ``<site>/DefaultDERControl.xml``.
    """
    from envoy_schema.server.schema.sep2.der import (DefaultDERControl, DERControlBase,
                                                     DERControlListResponse, DERControlResponse)
    from envoy_schema.server.schema.sep2.der_control_types import ActivePower
    from envoy_schema.server.schema.sep2.event import EventStatus
    from envoy_schema.server.schema.sep2.types import DateTimeIntervalType

    def power(w: float) -> ActivePower:
        value, mult = active_power(w)
        return ActivePower(value=value, multiplier=mult)

    study, method = info["study"], info["method"]
    pub = Publication(skipped=_skipped(env, sites))
    wide = _periods(env)
    for _, s in sites.iterrows():
        rows = wide[wide.customer == s.customer].sort_values(["day", "period"])
        controls = []
        for _, r in rows.iterrows():
            limits = {LIMITS[d]: power(r[d]) for d in LIMITS if d in r and pd.notna(r[d])}
            if not limits:
                continue
            start = _epoch(r.start)
            controls.append(DERControlResponse(
                mRID=stable_mrid("DERControl", study, method, s.site, start,
                                 *(f"{k}={v.value}e{v.multiplier}" for k, v in limits.items())),
                description=f"oe-opt operating envelope: study {study}, method {method}, "
                            f"{s.customer}, {r.start}",
                creationTime=creation_time,
                EventStatus_=EventStatus(currentStatus=0, dateTime=creation_time,
                                         potentiallySuperseded=False),
                interval=DateTimeIntervalType(start=start, duration=_epoch(r.end) - start),
                DERControlBase_=DERControlBase(**limits)))
        pub.n_controls += len(controls)
        doc = DERControlListResponse(all_=len(controls), results=len(controls),
                                     DERControl=controls)
        pub.files[f"{s.site}/DERControlList.xml"] = doc.to_xml(skip_empty=True).decode()
        if default_export_w is not None or default_import_w is not None:
            limits = {k: power(w) for k, w in (("opModExpLimW", default_export_w),
                                               ("opModImpLimW", default_import_w)) if w is not None}
            dflt = DefaultDERControl(
                mRID=stable_mrid("DefaultDERControl", study, method, s.site,
                                 default_export_w, default_import_w),
                description=f"oe-opt default control: study {study}, {s.customer}",
                DERControlBase_=DERControlBase(**limits))
            pub.files[f"{s.site}/DefaultDERControl.xml"] = dflt.to_xml(skip_empty=True).decode()
    return pub


def envoy_json(env: pd.DataFrame, info: dict, sites: pd.DataFrame) -> Publication:
    """The envoy admin API's ``SiteControlRequest`` list (``site_controls.json``).

    Limits are in W (kW × 1000 rounded down to 1 W), ``start_time`` the
    period start with its UTC offset, ``duration_seconds`` the period length,
    ``site_group_id`` from the site mapping.
    """
    from envoy_schema.admin.schema.site_control import SiteControlRequest

    pub = Publication(skipped=_skipped(env, sites))
    wide = _periods(env).merge(sites, on="customer")
    order = {c: i for i, c in enumerate(sites.customer)}
    wide = wide.assign(_o=wide.customer.map(order)).sort_values(["_o", "day", "period"])
    controls = []
    for _, r in wide.iterrows():
        limits = {f"{d}_limit_watts": Decimal(repr(float(r[d]))).to_integral_value(ROUND_FLOOR)
                  for d in LIMITS if d in r and pd.notna(r[d])}
        if not limits:
            continue
        start = dt.datetime.fromisoformat(r.start)
        controls.append(SiteControlRequest(
            site_group_id=int(r.site_group_id), calculation_log_id=None,
            duration_seconds=_epoch(r.end) - _epoch(r.start), start_time=start, **limits))
    pub.n_controls = len(controls)
    pub.files["site_controls.json"] = json.dumps(
        [c.model_dump(mode="json") for c in controls], indent=1)
    return pub


def publish(folder: str | Path, fmt: str, out: str | Path | None = None,
            sites_file: str | Path | None = None, default_export_w: float | None = None,
            default_import_w: float | None = None,
            creation_time: int | None = None) -> tuple[Publication, Path]:
    """Publish a results folder's envelopes as `fmt` (:data:`FORMATS`) into `out`.

    Everything is checked and built before anything is written; the
    unpublished periods go to ``skipped.csv`` in `out`.

    Returns
    -------
    (Publication, Path)
        What was written and the folder (default ``<folder>/<fmt>``).
    """
    if fmt not in FORMATS:
        raise OEError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    for name, w in (("--default-export-w", default_export_w),
                    ("--default-import-w", default_import_w)):
        if w is not None and (not math.isfinite(w) or w < 0):
            raise OEError(f"{name} {w!r}: must be a finite number of W >= 0")
    if fmt == "envoy-json" and (default_export_w is not None or default_import_w is not None):
        raise OEError("--default-export-w/--default-import-w apply to --format csip-aus (the "
                      "envoy defaults are set on the site control group)")
    env, info = read_results(folder)
    customers = list(dict.fromkeys(env.customer))
    sites = read_sites(sites_file, customers)
    if fmt == "csip-aus":
        now = int(dt.datetime.now(dt.timezone.utc).timestamp()) if creation_time is None \
            else int(creation_time)
        pub = csip_aus(env, info, sites, now, default_export_w, default_import_w)
    else:
        pub = envoy_json(env, info, sites)
    pub.n_sites = len(sites)
    target = Path(out) if out else Path(folder) / fmt
    for name, text in pub.files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    target.mkdir(parents=True, exist_ok=True)
    pub.skipped.to_csv(target / "skipped.csv", index=False)
    return pub, target
