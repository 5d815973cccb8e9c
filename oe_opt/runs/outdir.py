"""One ``--out`` folder belongs to one study, and one run writes it at a time.

Every run writes a small manifest, ``<out>/oe_opt_run.json`` (study file, study
name, what ran, run key, started, finished), and holds an OS-level lock on
``<out>/.oe_opt.lock`` (:func:`fcntl.flock`) while it writes.  A second run on
the same folder is refused with a clear message instead of mixing its files in;
the OS drops the lock when a process dies, so a killed run never blocks the
next one and an interrupted ``--days`` run resumes with the same command.  A
folder holding another study's results is refused unless ``force`` (then its
contents are cleared first).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oe_opt.errors import StudyError

#: the manifest's file name inside ``--out``
MANIFEST = "oe_opt_run.json"
#: the lock file's name inside ``--out``
LOCK = ".oe_opt.lock"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_manifest(out: str | Path) -> dict | None:
    """The manifest of `out`, or None if there is none (or it cannot be read)."""
    try:
        return json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_manifest(out: str | Path, manifest: dict) -> None:
    """Write the manifest atomically (temporary file, then :func:`os.replace`)."""
    path = Path(out) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_owner(out: str | Path, study_path: str | Path, kind: str, force: bool = False) -> None:
    """Refuse an `out` holding another study's results (or another kind of run) unless `force`.

    Read-only: call it before computing.  Raises :class:`StudyError` naming
    both studies and the way out (``--force`` or another ``--out``).
    """
    m = read_manifest(out)
    if m is None or force:
        return
    if m.get("study") != str(Path(study_path).resolve()) or m.get("kind") != kind:
        raise StudyError(f"--out {out} holds the results of another run ({m.get('kind')} of "
                         f"{m.get('study')}, started {m.get('started')}); use another --out, "
                         f"or --force to clear it for {Path(study_path).resolve()}")


def _clear(out: Path) -> None:
    for child in out.iterdir():
        if child.name == LOCK:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@contextmanager
def claim(out: str | Path, study_path: str | Path, kind: str, run_key: str = "",
          force: bool = False) -> Iterator[dict]:
    """Own `out` for one run: lock it, check and write the manifest, mark it finished at the end.

    Parameters
    ----------
    out : path
        The output folder (created if needed).
    study_path : path
        The study (or template) file of this run.
    kind : str
        What runs, e.g. ``"run --days"`` or ``"network run"``.
    run_key : str
        Stored in the manifest.
    force : bool
        Clear a folder holding another run's results instead of refusing.

    Raises
    ------
    StudyError
        If another process is writing `out`, or it holds another study's
        results and not `force`.
    """
    import fcntl

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise StudyError(f"--out {out} is being written by another run ({holder}); wait for "
                             f"it to finish or use another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {_now()}\n")
        fh.flush()
        old = read_manifest(out)
        if old is not None and (old.get("study") != str(Path(study_path).resolve())
                                or old.get("kind") != kind):
            if not force:
                check_owner(out, study_path, kind)
            _clear(out)
        manifest = {"study": str(Path(study_path).resolve()), "kind": kind, "run_key": run_key,
                    "started": _now(), "finished": None, "pid": os.getpid()}
        write_manifest(out, manifest)
        yield manifest
        manifest["finished"] = _now()
        write_manifest(out, manifest)
    finally:
        try:
            fh.seek(0)
            fh.truncate()
        except OSError:  # pragma: no cover
            pass
        fh.close()  # releases the lock
