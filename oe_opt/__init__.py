"""oe_opt — optimisation-based operating envelopes with OpenDSS verification.

The package is cut into rooms (see DEVELOPERS.md): ``inputs`` (profiles, day
cases), ``network`` (the engine protocol and OpenDSS), ``model`` (limits,
sensitivities, the LP and its allocation objectives), ``methods`` (every way
of finding an envelope, all verified through one evaluator), ``runs`` (one
day, many days, storage, parallel), ``io`` (result tables, figures,
importers), ``analysis`` and ``cli``.
"""

__version__ = "0.1.0"
