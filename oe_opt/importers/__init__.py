"""Importers that turn third-party network data into OpenDSS networks.

Generated networks go to an ignored folder (default ``networks/generated/``);
source data are never copied into the repository.
"""

from .mvlv_xlsx import (
    WorkbookError,
    import_network,
    read_workbook,
    write_lv_networks,
    write_mv_lv_network,
)

__all__ = [
    "WorkbookError",
    "import_network",
    "read_workbook",
    "write_lv_networks",
    "write_mv_lv_network",
]
