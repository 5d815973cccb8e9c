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


class _OneThread:
    """``with``: every BLAS library limited to one thread inside, restored after (only those
    that ran more threads are touched: two calls per library, not threadpoolctl's generic
    limiter, which costs ~40 µs per use, once per period-direction in the fast core).  Nested
    uses cost nothing: :func:`~oe_opt.runs.day.run_day` holds one around a day's periods, so
    the methods' own (one per period-direction, ~15 µs) are free inside it."""

    def __init__(self, libs: list) -> None:
        self._libs = libs
        self._saved: list[list[tuple[object, int]]] = []

    def __enter__(self) -> "_OneThread":
        changed = []
        if self._saved:            # nested (a day around its periods): already one thread
            self._saved.append(changed)
            return self
        for lib in self._libs:
            n = lib.get_num_threads()
            if n is not None and n != 1:
                lib.set_num_threads(1)
                changed.append((lib, n))
        self._saved.append(changed)
        return self

    def __exit__(self, *exc) -> None:
        for lib, n in reversed(self._saved.pop()):
            lib.set_num_threads(n)


def one_blas_thread():
    """Context manager: BLAS limited to one thread inside (the BLAS libraries found by
    threadpoolctl on first use, i.e. after numpy/scipy loaded them)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a declared dependency
            _CONTROLLER = False
        else:
            import scipy.linalg  # noqa: F401  (load scipy's BLAS before the controller looks)

            libs = [lib for lib in ThreadpoolController().lib_controllers
                    if lib.user_api == "blas"]
            _CONTROLLER = _OneThread(libs)
    if _CONTROLLER is False:
        return contextlib.nullcontext()
    return _CONTROLLER
