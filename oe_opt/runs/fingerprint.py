"""Content fingerprints of everything a run reads: network files, profiles, source tables.

A stored result may be reused only while the inputs that produced it are
unchanged.  :func:`dss_files` finds every file an OpenDSS master pulls in
(``Redirect``/``Compile`` recursively, ``BusCoords``/``LatLongCoords`` and
loadshape data files), resolved the way OpenDSS does: relative to the folder of
the file that names them, command names case-insensitive, and a file name
matched case-insensitively when the exact spelling does not exist.
:func:`input_digests` gives a SHA-256 per file; :func:`changed_inputs` compares
two such maps so that a rerun can say which files changed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

#: commands that read another script (relative paths from the including file's folder)
_SCRIPT_CMDS = ("redirect", "compile")
#: commands that read a data file
_DATA_CMDS = ("buscoords", "latlongcoords")
#: properties (of loadshapes, growthshapes, ...) that name a data file
_FILE_PROPS = r"(?:csvfile|pqcsvfile|sngfile|dblfile|file)"
_PROP_RE = re.compile(rf"\b{_FILE_PROPS}\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s,)\]]+)", re.IGNORECASE)

#: in-process cache: (path, size, mtime_ns) -> sha256
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _strip_comments(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    lines = []
    for line in text.splitlines():
        line = re.split(r"!|//", line, maxsplit=1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _unquote(token: str) -> str:
    token = token.strip()
    pairs = {'"': '"', "'": "'", "(": ")", "[": "]", "{": "}"}
    while len(token) >= 2 and token[0] in pairs and token[-1] == pairs[token[0]]:
        token = token[1:-1].strip()
    return token


def _resolve(folder: Path, name: str) -> Path | None:
    """`name` relative to `folder`; if it does not exist as spelt, a case-insensitive match."""
    p = Path(name)
    p = p if p.is_absolute() else folder / p
    if p.exists():
        return p.resolve()
    parent = p.parent
    if parent.is_dir():
        for child in parent.iterdir():
            if child.name.lower() == p.name.lower():
                return child.resolve()
    return None


def _first_arg(rest: str) -> str:
    rest = rest.strip()
    if not rest:
        return ""
    if rest[0] in "\"'([{":
        close = {'"': '"', "'": "'", "(": ")", "[": "]", "{": "}"}[rest[0]]
        end = rest.find(close, 1)
        return rest[1:end] if end > 0 else rest[1:]
    token = rest.split()[0]
    # "Redirect file=loads.dss" is also valid
    return token.split("=", 1)[1] if "=" in token else token


def dss_files(master: str | Path) -> list[Path]:
    """Every file an OpenDSS master reads, the master first, each once.

    Parameters
    ----------
    master : str or Path

    Returns
    -------
    list of Path
        Resolved paths of the master, the scripts it redirects to or compiles
        (recursively), bus-coordinate files and loadshape data files
        (``mult=(file=...)``, ``csvfile=``, ``pqcsvfile=``, ``sngfile=``,
        ``dblfile=``) that exist.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def visit(path: Path) -> None:
        if path in seen:
            return
        seen.add(path)
        out.append(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        folder = path.parent
        for line in _strip_comments(text):
            cmd, _, rest = line.partition(" ")
            cmd = cmd.lower()
            if cmd in _SCRIPT_CMDS or cmd in _DATA_CMDS:
                found = _resolve(folder, _first_arg(rest))
                if found is not None:
                    if cmd in _SCRIPT_CMDS:
                        visit(found)
                    elif found not in seen:
                        seen.add(found)
                        out.append(found)
                continue
            for m in _PROP_RE.finditer(line):
                found = _resolve(folder, _unquote(m.group(1)))
                if found is not None and found.is_file() and found not in seen:
                    seen.add(found)
                    out.append(found)

    visit(Path(master).resolve())
    return out


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's contents (cached in this process by size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def digests(paths: Iterable[str | Path]) -> dict[str, str]:
    """``{path: sha256}`` of the files that exist (a missing file maps to ``"missing"``)."""
    out = {}
    for p in paths:
        p = Path(p)
        out[str(p)] = file_digest(p) if p.is_file() else "missing"
    return out


def input_digests(study, master: str | Path | None = None) -> dict[str, str]:
    """Content digest of every file a run of `study` reads.

    Parameters
    ----------
    study : Study
    master : path, optional
        The network actually run (network sets); the study's master if omitted.

    Returns
    -------
    dict
        ``{path: sha256}`` for the network files (:func:`dss_files`), the
        profile files and the source voltage table.
    """
    files: list[Path] = list(dss_files(master if master is not None else study.network.master))
    for p in (study.profiles.load, study.profiles.pv, study.network.source_pu_table):
        if p is not None:
            files.append(Path(p))
    return digests(files)


def combined_digest(inputs: dict[str, str]) -> str:
    """One digest of a ``{path: sha256}`` map."""
    text = "\n".join(f"{k}\t{v}" for k, v in sorted(inputs.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def changed_inputs(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Files whose content differs between two digest maps, or that are in only one (sorted)."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def package_version() -> str:
    """The installed oe_opt version (part of every run key)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oe-opt")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"
