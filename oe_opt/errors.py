"""Exceptions raised by oe_opt.

Every error names the file, field or element at fault so that a user can fix
the input without reading the source.
"""

from __future__ import annotations


class OEError(Exception):
    """Base class of every error oe_opt raises on purpose."""


class StudyError(OEError, ValueError):
    """A study model (TOML) or a data file it names is missing or invalid."""


class ProfileError(StudyError):
    """A load or PV profile file has the wrong shape, units or values."""


class NetworkError(OEError):
    """The OpenDSS network could not be compiled or lacks an element."""


class PowerFlowError(OEError):
    """An OpenDSS power flow did not converge."""
