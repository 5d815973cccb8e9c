"""BLAS pinned to one thread inside ``one_blas_thread`` and restored after, nested too."""

from __future__ import annotations

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from oe_opt.methods.blas import one_blas_thread  # noqa: E402


def blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_one_blas_thread_inside_and_the_old_count_restored_after():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        if not before:
            pytest.skip("no BLAS library found by threadpoolctl")
        with one_blas_thread():
            assert blas_threads() == [1] * len(before)
            with one_blas_thread():                    # nested: still one, and no early restore
                assert blas_threads() == [1] * len(before)
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before


def test_nested_uses_make_no_library_calls():
    """Inside an outer use (run_day holds one around a day's periods) the methods' own uses
    cost no threadpool calls; the outer one pins and restores."""
    from oe_opt.methods.blas import _OneThread

    class FakeBlas:
        def __init__(self):
            self.threads, self.calls = 4, 0

        def get_num_threads(self):
            self.calls += 1
            return self.threads

        def set_num_threads(self, n):
            self.calls += 1
            self.threads = n

    lib = FakeBlas()
    pin = _OneThread([lib])
    with pin:
        assert lib.threads == 1 and lib.calls == 2
        for _ in range(5):
            with pin:
                assert lib.threads == 1
        assert lib.calls == 2
    assert lib.threads == 4 and lib.calls == 3
