"""Importers that turn third-party network data into OpenDSS networks.

MV-LV workbooks: :mod:`~oe_opt.io.importers.workbook` reads and checks them,
:mod:`~oe_opt.io.importers.dss_text` turns rows into OpenDSS commands and
:mod:`~oe_opt.io.importers.mvlv_xlsx` splits and writes the networks.

Generated networks go to an ignored folder (default ``networks/generated/``);
source data are never copied into the repository.  Import what you
need from those modules.
"""

