"""Importers that turn third-party network data into OpenDSS networks.

Generated networks go to an ignored folder (default ``networks/generated/``);
source data are never copied into the repository.  The names below are
loaded on first use, so ``python -m oe_opt.importers.mvlv_xlsx`` runs cleanly.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "WorkbookError",
    "import_network",
    "read_workbook",
    "write_lv_networks",
    "write_mv_lv_network",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module(".mvlv_xlsx", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
