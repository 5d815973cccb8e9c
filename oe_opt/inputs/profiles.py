"""Load and PV profiles: reading, validation and assignment to customers.

Formats accepted (the tutorial's, unchanged):

* demand ``.npy`` of shape (profiles, days, periods) in kW;
* PV ``.npy`` of shape (days, periods), normalised (1.0 = rated output);
* CSV in tidy long form: demand columns ``profile, day, period, kw``; PV
  columns ``day, period, value``.  A PV CSV may also be a plain numeric
  matrix of shape (days, periods) without header.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from oe_opt.errors import ProfileError


def _read_csv_long(path: Path, keys: list[str], value: str) -> np.ndarray:
    df = pd.read_csv(path)
    cols = [c.strip().lower() for c in df.columns]
    df.columns = cols
    missing = [c for c in keys + [value] if c not in cols]
    if missing:
        raise ProfileError(f"{path}: CSV needs columns {', '.join(keys + [value])}; "
                           f"missing {', '.join(missing)}")
    for k in keys:
        if not pd.api.types.is_integer_dtype(df[k]):
            raise ProfileError(f"{path}: column {k!r} must hold whole numbers")
        if (df[k] < 0).any():
            raise ProfileError(f"{path}: column {k!r} has negative indices")
    shape = tuple(int(df[k].max()) + 1 for k in keys)
    if len(df) != int(np.prod(shape)) or df.duplicated(keys).any():
        raise ProfileError(f"{path}: expected one row for every combination of {', '.join(keys)} "
                           f"(shape {shape}), got {len(df)} rows")
    values = pd.to_numeric(df[value], errors="coerce")
    text = values.isna() & df[value].notna()
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise ProfileError(f"{path}: column {value!r} must hold numbers; line {row + 2} holds "
                           f"{df[value].iat[row]!r}")
    out = np.full(shape, np.nan)
    out[tuple(df[k].to_numpy() for k in keys)] = values
    return out


def _read_array(path: Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"profile file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.asarray(np.load(path, allow_pickle=False), dtype=float)
        if suffix == ".csv":
            return None  # handled by the callers, which know the columns
    except (ValueError, EOFError, OSError) as exc:
        what = "the file is empty" if path.stat().st_size == 0 else str(exc) or type(exc).__name__
        raise ProfileError(f"{path}: cannot read as .npy: {what}") from exc
    raise ProfileError(f"{path}: unsupported profile format {suffix!r} (use .npy or .csv)")


def _is_numeric_row(line: str) -> bool:
    try:
        [float(x) for x in line.split(",")]
    except ValueError:
        return False
    return True


def _check_values(path: Path, arr: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ProfileError(f"{path}: {what} contains NaN or infinite values (first at index "
                           f"{tuple(int(i) for i in bad)})")
    if np.any(arr < 0):
        bad = np.argwhere(arr < 0)[0]
        raise ProfileError(f"{path}: {what} contains negative values (first at index "
                           f"{tuple(int(i) for i in bad)}: {arr[tuple(bad)]:.4g})")


def read_load_profiles(path: str | Path) -> np.ndarray:
    """Read household demand profiles.

    Parameters
    ----------
    path : str or Path
        ``.npy`` array (profiles, days, periods) or tidy CSV with columns
        ``profile, day, period, kw``.

    Returns
    -------
    numpy.ndarray
        Demand in kW, shape (profiles, days, periods).

    Raises
    ------
    ProfileError
        Missing file, wrong shape, NaN or negative demand.
    """
    path = Path(path)
    arr = _read_array(path)
    if arr is None:
        arr = _read_csv_long(path, ["profile", "day", "period"], "kw")
    if arr.ndim != 3:
        raise ProfileError(f"{path}: load profiles must have shape (profiles, days, periods), "
                           f"got {arr.shape}")
    if min(arr.shape) == 0:
        raise ProfileError(f"{path}: load profiles are empty, shape {arr.shape}")
    _check_values(path, arr, "demand")
    return arr


def read_pv_profile(path: str | Path) -> np.ndarray:
    """Read a normalised PV profile.

    Parameters
    ----------
    path : str or Path
        ``.npy`` array (days, periods), or CSV (tidy ``day, period, value`` or
        a plain numeric matrix days × periods).

    Returns
    -------
    numpy.ndarray
        Normalised PV output (1.0 = rated), shape (days, periods).

    Raises
    ------
    ProfileError
        Missing file, wrong shape, NaN, negative or implausibly large values.
    """
    path = Path(path)
    arr = _read_array(path)
    if arr is None:
        try:
            head = path.read_text(encoding="utf-8").splitlines()[:1]
        except UnicodeDecodeError as exc:
            raise ProfileError(f"{path}: not a UTF-8 text CSV file") from exc
        if head and not _is_numeric_row(head[0]):
            arr = _read_csv_long(path, ["day", "period"], "value")
        else:
            try:
                arr = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError as exc:
                raise ProfileError(f"{path}: cannot read PV CSV: {exc}") from exc
    if arr.ndim != 2:
        raise ProfileError(f"{path}: PV profile must have shape (days, periods), got {arr.shape}")
    _check_values(path, arr, "PV profile")
    if arr.max() > 1.5:
        raise ProfileError(f"{path}: PV profile must be normalised (peak ~1.0); max is "
                           f"{arr.max():.3g}")
    return arr


def check_day(load: np.ndarray, pv: np.ndarray, day: int, load_path: Path | str,
              pv_path: Path | str) -> None:
    """Check that `day` exists in both data sets and the period counts agree.

    Raises
    ------
    ProfileError
        Naming the file whose data does not cover the day.
    """
    if not 0 <= day < load.shape[1]:
        raise ProfileError(f"{load_path}: day {day} is outside the data (0..{load.shape[1] - 1})")
    if not 0 <= day < pv.shape[0]:
        raise ProfileError(f"{pv_path}: day {day} is outside the data (0..{pv.shape[0] - 1})")
    if load.shape[2] != pv.shape[1]:
        raise ProfileError(f"{load_path} has {load.shape[2]} periods per day but {pv_path} has "
                           f"{pv.shape[1]}")


def assign_profiles_tutorial(load_names: list[str], fixed: set[str], n_profiles: int) -> dict[str, int]:
    """Profile index per fixed customer, drawn exactly as the tutorial notebook does.

    The notebook calls ``np.random.seed(10)`` at the start of the day, then for
    every load in ``Loads.AllNames`` order that is not flexible it draws
    ``np.random.randint(0, n_profiles)`` and calls ``np.random.seed(90)``.

    Parameters
    ----------
    load_names : list of str
        All loads in the circuit's ``Loads.AllNames`` order.
    fixed : set of str
        Names of the fixed customers (with or without DER).
    n_profiles : int
        Number of household profiles available.

    Returns
    -------
    dict
        Customer name -> profile index.
    """
    state = np.random.get_state()
    try:
        np.random.seed(10)
        out = {}
        for name in load_names:
            if name in fixed:
                out[name] = int(np.random.randint(0, n_profiles))
                np.random.seed(90)
        return out
    finally:
        np.random.set_state(state)


def assign_profiles_seeded(load_names: list[str], fixed: set[str], n_profiles: int,
                           seed: int) -> dict[str, int]:
    """Profile index per fixed customer from a seeded modern RNG.

    Draws independently (with replacement) for each fixed customer in
    ``load_names`` order with ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    names = [n for n in load_names if n in fixed]
    idx = rng.integers(0, n_profiles, size=len(names))
    return {n: int(i) for n, i in zip(names, idx)}


def reactive_kvar(p_kw: np.ndarray, pf: float) -> np.ndarray:
    """Reactive power (kvar) for active power `p_kw` (kW) at lagging power factor `pf`."""
    return np.asarray(p_kw) * math.tan(math.acos(pf))


def period_labels(n_periods: int, period_hours: float | None = None) -> list[str]:
    """Clock times ``HH:MM`` of the start of each of `n_periods` periods from midnight.

    Parameters
    ----------
    n_periods : int
        Number of periods.
    period_hours : float, optional
        Length of a period (h); default ``24 / n_periods`` (one day).
    """
    hours = 24.0 / n_periods if period_hours is None else period_hours
    labels = []
    for i in range(n_periods):
        minutes = int(round(i * hours * 60))
        labels.append(f"{minutes // 60 % 24:02d}:{minutes % 60:02d}")
    return labels
