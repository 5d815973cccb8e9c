"""One BLAS thread in the optimiser's hot path.

The sensitivities and the local model make many small dense and SuperLU
multi-column solves; multithreaded OpenBLAS makes them many times slower
when the cores are shared (one 120-column sensitivity: 974 ms instead of
36 ms under contention; a 121×121 complex product 330 µs instead of 18 µs).
:func:`one_blas_thread` pins every BLAS library the process has loaded to one
thread for the duration of a ``with`` block (threadpoolctl; a no-op without it).
"""

from __future__ import annotations

import contextlib

_CONTROLLER = None


def one_blas_thread():
    """Context manager: BLAS limited to one thread inside (threadpoolctl's controller,
    made on first use, i.e. after numpy/scipy loaded their BLAS)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a declared dependency
            _CONTROLLER = False
        else:
            import scipy.linalg  # noqa: F401  (load scipy's BLAS before the controller looks)

            _CONTROLLER = ThreadpoolController()
    if _CONTROLLER is False:
        return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=1, user_api="blas")
