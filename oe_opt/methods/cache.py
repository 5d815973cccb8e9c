"""Objects built once per compiled network and reused across days and methods: sensitivity
models and envelope LPs.  An entry lives exactly as long as its network object."""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from oe_opt.model.sensitivity import SensitivityModel
from oe_opt.network.base import NetworkEngine

#: objects built once per compiled network (sensitivity models, LPs), reused across days; an
#: entry lives exactly as long as its network object
_PER_NETWORK: "weakref.WeakKeyDictionary[NetworkEngine, dict]" = weakref.WeakKeyDictionary()


def shared(net: NetworkEngine, key: tuple, build: Callable[[], object]):
    """The object stored for `net` under `key`, built by `build()` the first time."""
    store = _PER_NETWORK.setdefault(net, {})
    if key not in store:
        store[key] = build()
    return store[key]


def sensitivity_model(net: NetworkEngine, flex_idx: np.ndarray, analytic: bool = True) -> SensitivityModel:
    """The (cached) sensitivity model of `net` for these flexible customers."""
    key = ("sens", tuple(int(i) for i in flex_idx), analytic)
    return shared(net, key, lambda: SensitivityModel(net, flex_idx, analytic=analytic))
