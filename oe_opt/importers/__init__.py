"""Importers that turn third-party network data into OpenDSS networks.

MV-LV workbooks: :mod:`~oe_opt.importers.workbook` reads and checks them,
:mod:`~oe_opt.importers.dss_text` turns rows into OpenDSS commands and
:mod:`~oe_opt.importers.mvlv_xlsx` splits and writes the networks.

Generated networks go to an ignored folder (default ``networks/generated/``);
source data are never copied into the repository.  The names below are
loaded on first use, so ``python -m oe_opt.importers.mvlv_xlsx`` runs cleanly.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: exported name -> submodule defining it
_HOME = {
    "WorkbookError": ".workbook",
    "import_network": ".mvlv_xlsx",
    "read_workbook": ".workbook",
    "write_lv_networks": ".mvlv_xlsx",
    "write_mv_lv_network": ".mvlv_xlsx",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
