"""oe_opt — optimisation-based operating envelopes with OpenDSS verification."""

from .errors import NetworkError, OEError, PowerFlowError, ProfileError, StudyError
from .study import Study, load_study

__all__ = ["OEError", "StudyError", "ProfileError", "NetworkError", "PowerFlowError", "Study",
           "load_study", "__version__"]
__version__ = "0.1.0"
