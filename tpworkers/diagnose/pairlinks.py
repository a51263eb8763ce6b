"""What joins a node's GPUs: each GPU's NVLink state against its peers, and the one link model
of a pair or a TP group that the findings and the cluster page share.

A pair's link: when the topology shows NVLink between them (topo -m NV#, or links whose far end
is the other GPU), the slower of the GPU product's NVLink (an H100 NVL bridge is 300 GB/s per
direction however many links) and the reported bond (NV4 on an A100 is a third of its 12
links); else PCIe at the reported, or assumed, generation and width. A ring all-reduce over a
group runs at its slowest hop, so a group's link is the slowest of its pairs' links.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from tpworkers.catalog.links import Link, assumed_pcie, link_for_gpu, nvlink_bond, nvlink_version, pcie_link
from tpworkers.diagnose.topology import Node, source_words


@dataclass
class GpuLinks:
    gpu: int
    name: str
    active: int
    total: int
    inactive: list[int]
    down: bool  # fewer links up than the healthiest GPU of this node (which has some up)
    source: str  # where the link states came from, in words


def nvlink_states(node: Node) -> list[GpuLinks]:
    """NVLink state of every GPU that lists links. A GPU counts as down only against a peer
    with links up: when no GPU of the node has one up (an H100 PCIe without bridges), none
    is "down", there is simply no NVLink (see ``no_active_nvlink``)."""
    counted = [(g, sum(1 for link in g.nvlinks if link.state == "active")) for g in node.gpus if g.nvlinks]
    best = max((active for _, active in counted), default=0)
    return [GpuLinks(g.index, g.name or f"GPU{g.index}", active, len(g.nvlinks),
                     [link.link for link in g.nvlinks if link.state != "active"],
                     best > 0 and active < best,
                     source_words(g.nvlinks[0], "state") or "reported")
            for g, active in counted]


def no_active_nvlink(node: Node) -> bool:
    """GPUs list NVLinks, but not one is up and no pair shows a bond."""
    states = nvlink_states(node)
    return bool(states) and not any(s.active for s in states) and not any(
        p.nvlink_count for p in node.pairs)


def nvlink_up(node: Node) -> bool:
    """Is NVLink working anywhere on this node: a pair bonded (topo -m NV#, counted remotes) or
    a GPU with a link up? Decided from the topology alone, whether or not GPU names are known."""
    return (any(p.nvlink_count for p in node.pairs)
            or any(link.state == "active" for g in node.gpus for link in g.nvlinks))


def nvlink_expected(node: Node) -> bool:
    """Could this node have NVLink: GPUs list links, or their product ships with NVLink."""
    return any(g.nvlinks or link_for_gpu(g.name or "") for g in node.gpus)


def nvlinked(node: Node, gpus: tuple[int, ...]) -> bool:
    """Is every pair of the group joined by NVLink?"""
    return all(node.nvlink_count(a, b) for a, b in itertools.combinations(gpus, 2))


def unjoined_pairs(node: Node, gpus: tuple[int, ...]) -> list[tuple[int, int]]:
    """Pairs of the group the topology reports without NVLink (count 0; unknown pairs, such as
    an NVSwitch node's from nvlink -s alone, are not counted)."""
    return [(a, b) for a, b in itertools.combinations(gpus, 2) if node.nvlink_count(a, b) == 0]


def _name(node: Node, index: int) -> str:
    gpu = node.find_gpu(index)
    return gpu.name or "" if gpu else ""


def _reported_version(node: Node, gpus: tuple[int, ...]) -> int | None:
    versions = {link.version for g in gpus if (gpu := node.find_gpu(g))
                for link in gpu.nvlinks if link.version}
    return min(versions) if versions else None


def pair_link(node: Node, a: int, b: int) -> Link:
    """The link a pair's all-reduce runs over, modelled from the topology (see the module)."""
    count = node.nvlink_count(a, b)
    if count:
        product = link_for_gpu(_name(node, a)) or link_for_gpu(_name(node, b))
        if product is None:
            version = _reported_version(node, (a, b))
            bond = nvlink_bond(version or 4, count)
            if version:
                return bond
            why = "GPU product not reported, NVLink 4 assumed"
            return dataclasses.replace(bond, source=f"{why}; {bond.source}", assumption=why)
        return min(product, nvlink_bond(nvlink_version(product), count), key=lambda l: l.bandwidth_Bps)
    gpus = [node.find_gpu(g) for g in (a, b)]
    gens = [g.pcie_gen_current if g else None for g in gpus]
    widths = [g.pcie_width_current if g else None for g in gpus]
    if all(gens) and all(widths):
        return pcie_link(min(gens), min(widths))
    return assumed_pcie(_name(node, a))


def group_link(node: Node, gpus: tuple[int, ...]) -> Link:
    """The link a ring all-reduce over ``gpus`` runs at: its slowest pair's."""
    if len(gpus) < 2:
        raise ValueError(f"a group link needs at least two GPUs, got {gpus}")
    return min((pair_link(node, a, b) for a, b in itertools.combinations(gpus, 2)),
               key=lambda link: link.bandwidth_Bps)
