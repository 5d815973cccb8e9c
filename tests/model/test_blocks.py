"""Adjoint products by blocks of the network (a Schur complement) against a direct solve."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from oe_opt.model.blocks import BlockPlan, Partition, partition_nodes


def tree_network(n_buses: int, seed: int, extra_edges: int = 0):
    """Real form (2n x 2n) of a random radial network's admittance matrix and of load terms
    (as J0 and D), two nodes per bus; `extra_edges` random links make it meshed."""
    rng = np.random.default_rng(seed)
    parent = [-1] + [int(rng.integers(0, b)) for b in range(1, n_buses)]
    edges = [(b, parent[b]) for b in range(1, n_buses)]
    edges += [tuple(rng.choice(n_buses, 2, replace=False)) for _ in range(extra_edges)]
    n = 2 * n_buses
    y = sp.lil_matrix((n, n), dtype=complex)
    for a, b in edges:
        z = rng.uniform(0.5, 2.0) * np.array([[1.0, 0.3], [0.3, 1.0]]) * (1 - 2j)
        for i in range(2):
            for j in range(2):
                y[2 * a + i, 2 * a + j] += z[i, j]
                y[2 * b + i, 2 * b + j] += z[i, j]
                y[2 * a + i, 2 * b + j] -= z[i, j]
                y[2 * b + i, 2 * a + j] -= z[i, j]
    y[0, 0] += 50.0 - 100j                                   # the source
    y[1, 1] += 50.0 - 100j
    y = y.tocsr()
    g, b = y.real, y.imag
    a0 = sp.bmat([[g, -b], [b, g]]).tocsc()
    delta = sp.lil_matrix((2 * n, 2 * n))
    for k in rng.choice(n, n // 3, replace=False):           # load terms, as in J0 + D
        d = rng.normal(0, 0.05, 2)
        delta[k, k] += d[0]
        delta[k, n + k] += d[1]
        delta[n + k, k] += d[1]
        delta[n + k, n + k] -= d[0]
    names = [f"b{i // 2}.{i % 2 + 1}" for i in range(n)]
    return a0, delta.tocsr(), y, names


def random_columns(n_rows: int, n_cols: int, seed: int) -> sp.csc_matrix:
    rng = np.random.default_rng(seed)
    return sp.random(n_rows, n_cols, density=3.0 / n_rows, random_state=rng, format="csc")


@pytest.mark.parametrize("extra_edges", [0, 5])
@pytest.mark.parametrize("block_nodes", [6, 40, 10_000])
def test_products_equal_a_direct_solve(extra_edges, block_nodes):
    """``sigma^T A^-1 R`` by blocks equals the dense solve, radial or meshed, for rows and
    directions anywhere (interface nodes included), however the network is cut."""
    a0, delta, y, names = tree_network(120, seed=1, extra_edges=extra_edges)
    part = partition_nodes(y, names, block_nodes)
    n = y.shape[0]
    assert sorted(np.concatenate([part.interface, *part.blocks]).tolist()) == list(range(n))
    if block_nodes < 100:
        assert len(part.blocks) >= 2 and len(part.interface) > 0
    r = random_columns(2 * n, 30, seed=2)
    sigma = random_columns(2 * n, 50, seed=3)
    # directions and rows that touch the interface
    i0 = int(part.interface[0]) if len(part.interface) else 0
    r = sp.hstack([r, sp.csc_matrix(([1.0], ([i0], [0])), shape=(2 * n, 1))]).tocsc()
    sigma = sp.hstack([sigma, sp.csc_matrix(([1.0], ([n + i0], [0])), shape=(2 * n, 1))]).tocsc()
    plan = BlockPlan(a0, part)
    for scale in (1.0, 2.0):                      # one plan, two states
        want = sigma.T.toarray() @ np.linalg.solve((a0 + scale * delta).toarray(), r.toarray())
        inverse = plan.inverse(scale * delta, r)
        got = inverse.products(sigma)
        assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max()
        x = np.linalg.solve((a0 + scale * delta).toarray(), r.toarray())
        assert np.abs(inverse.solution() - x).max() <= 1e-10 * np.abs(x).max()


def test_blocks_touch_only_the_interface():
    _, _, y, names = tree_network(200, seed=4)
    part = partition_nodes(y, names, 20)
    block_of = np.full(y.shape[0], -1)
    for i, nodes in enumerate(part.blocks):
        block_of[nodes] = i
    coo = sp.coo_matrix(y)
    both = (block_of[coo.row] >= 0) & (block_of[coo.col] >= 0)
    assert np.all(block_of[coo.row][both] == block_of[coo.col][both])
    # the nodes of a bus stay together
    bus = np.array([nm.split(".")[0] for nm in names])
    inter = set(bus[part.interface])
    assert all(bus[i] not in inter for nodes in part.blocks for i in nodes)
    assert max(len(b) for b in part.blocks) < 200 and len(part.blocks) >= 5


def test_a_partition_whose_blocks_couple_is_refused():
    """Moving one node of a block into another block couples them: refused, not a wrong
    product; so are state terms that couple two blocks."""
    a0, delta, y, names = tree_network(120, seed=1)
    part = partition_nodes(y, names, 20)
    first, second = part.blocks[0], part.blocks[1]
    bad = Partition(part.interface, [first[1:], np.sort(np.append(second, first[0])),
                                     *part.blocks[2:]])
    r = random_columns(2 * y.shape[0], 5, seed=2)
    with pytest.raises(ValueError, match="coupled"):
        BlockPlan(a0, bad)
    plan = BlockPlan(a0, part)
    plan.inverse(delta, r)                                    # inside the blocks: fine
    link = sp.csr_matrix(([0.1], ([int(first[0])], [int(second[0])])), shape=a0.shape)
    with pytest.raises(ValueError, match="couple"):
        plan.inverse(delta + link, r)
