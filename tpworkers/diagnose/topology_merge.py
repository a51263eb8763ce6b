"""One view of a GPU node from several partial ones (topo -m, nvlink -s, nvlink -R, topo -p2p r,
NVML, measurements): each field keeps the value of its best-ranked source, and ``nvlink -R``'s
numbering of a GPU's links is aligned with ``nvlink -s``'s before anything is combined.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from tpworkers.diagnose.topology import MEASURED, NIC, NVML, SMI, NicPath, Node, NvLinkLink

# When two sources report the same field, the higher rank wins (structured API over text).
_SOURCE_RANK = {SMI: 1, NVML: 2, MEASURED: 3}
# The fields that name a record (never merged: they are how the same record is found).
_KEYS = {"GPU": ("index",), "NvLinkLink": ("link",), "GPUPair": ("a", "b"), "NIC": ("name",),
         "NicPath": ("gpu", "nic")}


def merge(*nodes: Node) -> Node:
    """One view of a node from several partial ones: each field keeps the value of the
    highest-ranked source that reported it (measured > NVML > nvidia-smi), first one on ties."""
    merged = Node(hostname=nodes[0].hostname if nodes else "node")
    nodes = _align_remote_numbering(nodes)
    for node in nodes:
        _merge_fields(merged, node)
        for gpu in node.gpus:
            target = merged.add_gpu(gpu.index)
            _merge_fields(target, gpu)
            for link in gpu.nvlinks:
                _merge_fields(_keyed(target.nvlinks, NvLinkLink, link=link.link), link)
            target.nvlinks.sort(key=lambda link: link.link)
        for pair in node.pairs:
            _merge_fields(merged.add_pair(pair.a, pair.b), pair)
        for nic in node.nics:
            _merge_fields(_keyed(merged.nics, NIC, name=nic.name), nic)
        for path in node.nic_paths:
            _merge_fields(_keyed(merged.nic_paths, NicPath, gpu=path.gpu, nic=path.nic), path)
        merged.reasons += [r for r in node.reasons if r not in merged.reasons]
    statuses = {n.probe_status for n in nodes}
    merged.probe_status = statuses.pop() if len(statuses) == 1 else "partial"
    return merged


def _align_remote_numbering(nodes: tuple[Node, ...]) -> tuple[Node, ...]:
    """``nvlink -R`` numbers only a GPU's active links (0, 1, 2, ...) while ``nvlink -s`` numbers
    every physical link, so on a GPU with inactive links the same number names different links.
    When one view of a GPU lists remotes only and another lists states, and the remotes are as
    many as the active links, the remotes are renumbered onto the active links in order (their
    far-end link numbers stay as -R printed them). Decided before merging, so the order in which
    the outputs were pasted does not matter."""
    states: dict[int, list[int]] = {}
    for node in nodes:
        for gpu in node.gpus:
            if gpu.nvlinks and all(link.remote_bus_id is None for link in gpu.nvlinks):
                if any(link.state == "inactive" for link in gpu.nvlinks):
                    states[gpu.index] = [link.link for link in gpu.nvlinks if link.state == "active"]
    aligned = []
    for node in nodes:
        gpus = []
        for gpu in node.gpus:
            active = states.get(gpu.index)
            remotes = [link for link in gpu.nvlinks if link.remote_bus_id]
            if (active is not None and remotes and len(remotes) == len(gpu.nvlinks) == len(active)
                    and [link.link for link in remotes] != active):
                gpu = dataclasses.replace(gpu, nvlinks=[dataclasses.replace(link, link=number)
                                                        for link, number in zip(remotes, active)])
            gpus.append(gpu)
        aligned.append(dataclasses.replace(node, gpus=gpus))
    return tuple(aligned)


def _keyed(items: list, cls: type, **key: Any) -> Any:
    for item in items:
        if all(getattr(item, k) == v for k, v in key.items()):
            return item
    item = cls(**key)
    items.append(item)
    return item


def _merge_fields(target: Any, other: Any) -> None:
    keys = _KEYS.get(type(target).__name__, ())
    skip = {"sources", "nvlinks", "gpus", "pairs", "nics", "nic_paths", "reasons",
            "probe_status", "hostname", *keys}
    for f in dataclasses.fields(other):
        value = getattr(other, f.name)
        if f.name in skip or value is None:
            continue
        theirs = other.sources.get(f.name)
        ours = target.sources.get(f.name)
        if getattr(target, f.name) is None or _SOURCE_RANK.get(theirs, 0) > _SOURCE_RANK.get(ours, 0):
            setattr(target, f.name, value)
            if theirs:
                target.sources[f.name] = theirs
