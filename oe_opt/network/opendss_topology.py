"""Supply paths of an OpenDSS circuit (:meth:`DssNetwork.topology`).

A breadth-first walk from the source (Vsource) bus over every power-delivery
element with two or more terminals; in a meshed network this is the
breadth-first spanning tree.
"""

from __future__ import annotations

from collections import deque

from oe_opt.errors import NetworkError


def bus_of(name: str) -> str:
    """Bus name (lowercase) without its node suffixes."""
    return name.split(".", 1)[0].lower()


def supply_paths(circuit, master) -> dict[str, list[str]]:
    """The power-delivery elements between the source and every bus.

    Parameters
    ----------
    circuit : dss.ICircuit
    master : Path
        For messages.

    Returns
    -------
    dict
        Bus name (lowercase, without nodes) to the list of elements on its
        path from the source, as ``"line.<name>"`` / ``"transformer.<name>"``,
        source side first.

    Raises
    ------
    NetworkError
        If the circuit has no voltage source.
    """
    c = circuit
    if not c.Vsources.First:
        raise NetworkError(f"{master}: no Vsource, cannot find the supply paths")
    root = bus_of(c.ActiveCktElement.BusNames[0])
    adj: dict[str, list[tuple[str, str]]] = {}
    pd = c.PDElements
    i = pd.First
    while i:
        elem = c.ActiveCktElement
        name = pd.Name.lower()
        buses = [bus_of(b) for b in elem.BusNames[: elem.NumTerminals]]
        for b in buses[1:]:
            if b != buses[0]:
                adj.setdefault(buses[0], []).append((name, b))
                adj.setdefault(b, []).append((name, buses[0]))
        i = pd.Next
    paths = {root: []}
    queue = deque([root])
    while queue:
        b = queue.popleft()
        for name, other in adj.get(b, []):
            if other not in paths:
                paths[other] = paths[b] + [name]
                queue.append(other)
    return paths
