"""What joins a node's GPUs: each GPU's NVLink state against its peers, and the one link model
of a pair or a TP group that the findings and the cluster page share.

A pair's link: when the topology shows NVLink between them (topo -m NV#, or links whose far end
is the other GPU), the slower of the GPU product's NVLink (an H100 NVL bridge is 300 GB/s per
direction however many links) and the reported bond (NV4 on an A100 is a third of its 12
links); else PCIe at the reported, or assumed, generation and width. A ring all-reduce over a
group runs at its slowest hop; NCCL searches the rings through the group for the fastest one,
so a group's link is the slowest hop of its best ring (``group_link``), not its slowest pair:
on a DGX-1's cube mesh, eight V100s ring over 2-link bonds only, although some pairs have no
NVLink at all. A GPU's links are judged against what its product wires (catalog/gpus.py), so
an H100 PCIe with 12 of 18 listed links up is whole, and a V100 bonded to one peer by 1 link
and to another by 2 is as built.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from tpworkers.catalog.gpus import find_gpu
from tpworkers.catalog.links import (Link, assumed_pcie, link_for_gpu, nvlink_bond, nvlink_version, pcie_link,
                                     version_from_reported_speed)
from tpworkers.diagnose.nvsmi_nvlink import ELIDED_NOTE
from tpworkers.diagnose.topology import Node, source_words

P2P_REFUSALS = {"CNS": "chipset not supported", "GNS": "GPU not supported", "TNS": "topology not supported",
                "NS": "not supported", "DR": "disabled by regkey"}  # nvidia-smi topo -p2p legend


@dataclass
class GpuLinks:
    gpu: int
    name: str
    active: int
    total: int
    inactive: list[int]
    down: bool  # fewer links up than the healthiest GPU of this node (which has some up)
    source: str  # where the link states came from, in words
    wired: int | None = None  # links the GPU's product has up when healthy (None: unknown)
    wired_source: str = ""  # where ``wired`` comes from: the catalog's wiring of that product, cited

    @property
    def expected(self) -> int:
        """Links this GPU should have up: its product's wiring, else every link it lists."""
        return min(self.wired, self.total) if self.wired else self.total

    @property
    def missing(self) -> int:
        return max(self.expected - self.active, 0)


def nvlink_states(node: Node) -> list[GpuLinks]:
    """NVLink state of every GPU that lists links. A GPU counts as down only against a peer
    with links up: when no GPU of the node has one up (an H100 PCIe without bridges), none
    is "down", there is simply no NVLink (see ``no_active_nvlink``)."""
    counted = [(g, sum(1 for link in g.nvlinks if link.state == "active")) for g in node.gpus
               if g.nvlinks and f"GPU {g.index}: {ELIDED_NOTE}" not in node.reasons]
    best = max((active for _, active in counted), default=0)
    return [GpuLinks(g.index, g.name or f"GPU{g.index}", active, len(g.nvlinks),
                     [link.link for link in g.nvlinks if link.state != "active"],
                     best > 0 and active < best,
                     source_words(g.nvlinks[0], "state") or "reported", **_wiring(g.name))
            for g, active in counted]


def _wiring(name: str | None) -> dict:
    """A GPU's ``wired`` and ``wired_source`` from the catalog entry of its product (a
    datasheet figure, modelled), or nothing when the catalog does not know how it is wired."""
    product = find_gpu(name or "")
    if not product or not product.nvlinks_wired:
        return {}
    return {"wired": product.nvlinks_wired,
            "wired_source": f"catalog wiring ({product.topology}): {product.source}"}


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
            version = _reported_version(node, (a, b)) or _version_from_speed(node, (a, b))
            bond = nvlink_bond(version or 4, count)
            if version:
                return bond
            why = "GPU product not reported, NVLink 4 assumed"
            return dataclasses.replace(bond, source=f"{why}; {bond.source}", assumption=why)
        return min(product, nvlink_bond(nvlink_version(product), count), key=lambda l: l.bandwidth_Bps)
    gpus = [node.find_gpu(g) for g in (a, b)]
    gens = [g.pcie_gen_current if g else None for g in gpus]
    widths = [g.pcie_width_current if g else None for g in gpus]
    link = pcie_link(min(gens), min(widths)) if all(gens) and all(widths) else assumed_pcie(_name(node, a))
    refused = p2p_refusal(node, a, b)
    if refused:
        why = (f"topo -p2p reports {refused} between GPU{a} and GPU{b}: NCCL copies through host "
               "memory, so the PCIe figure is an upper bound")
        return dataclasses.replace(link, assumption="; ".join(filter(None, (link.assumption, why))))
    return link


def p2p_refusal(node: Node, a: int, b: int) -> str | None:
    """Why topo -p2p says GPU a cannot reach GPU b directly ("GNS (GPU not supported)"), if it does."""
    pair = node.find_pair(a, b)
    code = pair.p2p_read if pair else None
    return f"{code} ({P2P_REFUSALS[code]})" if code in P2P_REFUSALS else None


def _version_from_speed(node: Node, gpus: tuple[int, ...]) -> int | None:
    """The NVLink generation the per-link rate of an nvlink -s paste gives (no GPU names)."""
    versions = {version_from_reported_speed(link.speed_Bps) for g in gpus if (gpu := node.find_gpu(g))
                for link in gpu.nvlinks if link.speed_Bps}
    versions.discard(None)
    return min(versions) if versions else None


def group_link(node: Node, gpus: tuple[int, ...]) -> Link:
    """The link a ring all-reduce over ``gpus`` runs at: the slowest hop of the best ring."""
    return best_ring(node, gpus)[1]


def best_ring(node: Node, gpus: tuple[int, ...]) -> tuple[tuple[int, ...], Link]:
    """The ring through ``gpus`` whose slowest hop is fastest, as NCCL's ring search picks it
    (NCCL, src/graph/search.cc, tries GPU orders and keeps the one with the highest bandwidth),
    and that slowest hop's link. Every order is tried for up to 9 GPUs (8!/2 rings); beyond
    that the group's slowest pair is returned, a lower bound."""
    if len(gpus) < 2:
        raise ValueError(f"a group link needs at least two GPUs, got {gpus}")
    links = {frozenset(p): pair_link(node, *p) for p in itertools.combinations(gpus, 2)}
    slowest = min(links.values(), key=lambda link: link.bandwidth_Bps)
    if len(gpus) > 9:
        return tuple(gpus), slowest
    first, rest = gpus[0], gpus[1:]
    best: tuple[tuple[int, ...], Link] | None = None
    for order in itertools.permutations(rest):
        if len(order) > 1 and order[0] > order[-1]:
            continue  # the same ring walked the other way
        ring = (first, *order)
        hop = min((links[frozenset((ring[i], ring[(i + 1) % len(ring)]))] for i in range(len(ring))),
                  key=lambda link: link.bandwidth_Bps)
        if best is None or hop.bandwidth_Bps > best[1].bandwidth_Bps:
            best = (ring, hop)
    return best


def ring_nvlinked(node: Node, gpus: tuple[int, ...]) -> bool:
    """Can a ring through the group run on NVLink alone (every hop an NVLink bond)?"""
    return len(gpus) < 2 or best_ring(node, gpus)[1].kind == "nvlink"
