"""Findings about what runs on a node: the GPUs a deployment names, whether its TP size splits
the model, where its all-reduces travel, and whether it fits (or needs) its TP at all (the
last decided in deployment_sizing).

Modelled per-token costs are costmodel.decode_comm_per_token over the group's link
(pairlinks.group_link: the slowest hop of the best ring, as NCCL searches it) with
TOKENS_IN_FLIGHT tokens per decode step. Each evidence text states those assumptions, alpha and
B included.
"""
from __future__ import annotations

import dataclasses
import itertools

from tpworkers.catalog import costmodel
from tpworkers.catalog.links import LINKS, Link
from tpworkers.diagnose.deployment_fields import Deployment
from tpworkers.diagnose.deployment_sizing import fit_at, gpu_memory, sizing_findings
from tpworkers.diagnose.evidence import Evidence, Finding
from tpworkers.diagnose.pairlinks import group_link, nvlink_expected, nvlink_up, ring_nvlinked, unjoined_pairs
from tpworkers.diagnose.topology import PATH_LEVELS, Node, source_words

TOKENS_IN_FLIGHT = 8


def deployment_findings(node: Node, dep: Deployment) -> list[Finding]:
    found = _gpu_problems(node, dep)
    if any(f.severity == "critical" for f in found):
        return found
    if dep.shape is None:
        return found + [Finding("info", f"Cannot check {dep.model_ref}: its shape is unknown", (),
                                f"{dep.model_error.rstrip('.')}. The node's own checks still ran.",
                                "sizing-tp")]
    errors = costmodel.tp_constraint_errors(dep.shape, dep.tp)
    if errors:
        valid = costmodel.valid_tp_sizes(dep.shape, max_tp=len(node.gpus) or 8)
        return found + [Finding(
            "critical", f"TP={dep.tp} cannot split {dep.shape.name}: {'; '.join(errors)}",
            (_launch(dep, "TP size", dep.tp, "GPUs"),
             Evidence("attention heads", dep.shape.num_attention_heads, "heads", dep.shape_provenance, dep.shape_source),
             Evidence("KV heads", dep.shape.num_key_value_heads, "heads", dep.shape_provenance, dep.shape_source)),
            f"Use a TP size that splits the model evenly: {', '.join(map(str, valid))}"
            + (f" (up to this node's {len(node.gpus)} GPUs)." if node.gpus else "."), "sizing-tp")]
    known = {g.index for g in node.gpus}
    if dep.tp_spans_nodes or (known and dep.tp > len(known)):
        found.append(_spans_nodes(node, dep))
    else:
        # A group crosses PCIe only when no ring through it runs on NVLink alone: on a cube
        # mesh some pairs lack NVLink, yet NCCL's ring never needs them.
        found += [_crosses_pcie(node, dep, group) for group in dep.tp_groups()
                  if set(group) <= known and unjoined_pairs(node, group) and not ring_nvlinked(node, group)]
    memory = gpu_memory(node, dep)
    if memory:
        found += sizing_findings(node, dep, *memory)
    return found


def _names(gpus) -> str:
    """GPU0+GPU1; a longer run of consecutive GPUs as GPU0..GPU7."""
    gpus = list(gpus)
    if len(gpus) > 2 and gpus == list(range(gpus[0], gpus[-1] + 1)):
        return f"GPU{gpus[0]}..GPU{gpus[-1]}"
    return "+".join(f"GPU{g}" for g in gpus)


def _launch(dep: Deployment, label: str, value: float, unit: str) -> Evidence:
    return Evidence(label, value, unit, "reported", dep.named_in)


def _node_gpus(node: Node) -> Evidence:
    sources = {source_words(g, name) for g in node.gpus for name in g.sources} - {""}
    return Evidence("GPUs on this node", len(node.gpus), "GPUs", "reported", ", ".join(sorted(sources)))


def _gpu_problems(node: Node, dep: Deployment) -> list[Finding]:
    """GPUs the deployment names that the node lacks, or fewer/more than TP x PP needs."""
    if dep.gpus is None:
        return []
    known = sorted(g.index for g in node.gpus)
    named = _launch(dep, f"GPUs named ({', '.join(map(str, dep.gpus))})", len(dep.gpus), "GPUs")
    needed, shape = dep.gpus_per_node, f"TP={dep.tp}" + (f" x PP={dep.pp}" if dep.pp > 1 else "")
    absent = [g for g in dep.gpus if known and g not in known]
    if absent:
        return [Finding(
            "critical", f"{_names(absent)} {'is' if len(absent) == 1 else 'are'} not on this node "
                        f"(it has {_names(known)})", (named, _node_gpus(node)),
            "Name GPUs by the indices nvidia-smi gives them on this node, or attach the deployment "
            "to the node it runs on; no other check of this deployment ran.", "cluster-findings")]
    if len(dep.gpus) < needed:
        return [Finding(
            "critical", f"{shape} needs {needed} GPUs on this node but only {len(dep.gpus)} "
                        f"{'is' if len(dep.gpus) == 1 else 'are'} named ({_names(dep.gpus)})",
            (named, _launch(dep, "TP size", dep.tp, "GPUs")),
            f"Make {needed} GPUs visible (CUDA_VISIBLE_DEVICES) or lower TP: engines refuse to start "
            "with fewer visible GPUs than TP x PP.", "sizing-tp")]
    if len(dep.gpus) > needed:
        idle = dep.gpus[needed:]
        return [Finding(
            "info", f"{_names(idle)} {'stays' if len(idle) == 1 else 'stay'} idle: {shape} uses "
                    f"{needed} of the {len(dep.gpus)} GPUs named", (named,),
            f"Run another replica on {_names(idle)}, or drop {'it' if len(idle) == 1 else 'them'} "
            "from the list so that the plan says what runs.", "tp-or-replicas")]
    return []


def _comm(dep: Deployment, tp: int, link: Link, label: str) -> Evidence:
    if tp == 1:
        return Evidence(label, 0.0, "ms/token", "modelled", "TP=1 has no all-reduce")
    est = costmodel.decode_comm_per_token(dep.shape, tp, TOKENS_IN_FLIGHT, dep.activation_dtype, link)
    return Evidence(label, est.seconds_per_token * 1e3, "ms/token", "modelled",
                    f"{est.allreduces} ring all-reduces of {costmodel.fmt_bytes(est.bytes_each)} per "
                    f"token (2 per layer + 1 for the embedding, as vLLM runs them) and a "
                    f"{costmodel.fmt_bytes(est.gather_bytes)} logits gather over {link.name}, "
                    f"{TOKENS_IN_FLIGHT} tokens in flight (assumed); "
                    f"{link.model_inputs()}")


def _bond_source(node: Node, a: int, b: int) -> str:
    links = node.bond(a, b) or node.bond(b, a)
    if links:
        return source_words(links[0], "state")
    pair = node.find_pair(a, b)
    return source_words(pair, "nvlink_count") if pair else ""


def _missing_nvlink(node: Node, group: tuple[int, ...]) -> tuple[str, list[Evidence]]:
    """The group's pairs without NVLink: named one by one when few, else counted, with the
    farthest PCIe path among them."""
    pairs = list(itertools.combinations(group, 2))
    missing = unjoined_pairs(node, group)
    if len(missing) <= 3:
        return (", ".join(f"GPU{a}-GPU{b}" for a, b in missing) + (" have" if len(missing) > 1 else " has")
                + " no NVLink", [Evidence(f"GPU{a}-GPU{b} NVLinks", 0, f"links, PCIe path {_path(node, a, b)}",
                                          "reported", _bond_source(node, a, b)) for a, b in missing])
    levels = {level: i for i, level in enumerate(PATH_LEVELS)}
    far = max(missing, key=lambda p: levels.get(_path(node, *p), -1))
    title = (f"none of the {len(pairs)} pairs of {_names(group)} has NVLink" if len(missing) == len(pairs)
             else f"{len(missing)} of the {len(pairs)} pairs of {_names(group)} have no NVLink")
    source = _bond_source(node, *missing[0])
    return title, [Evidence("pairs without NVLink", len(missing), f"of {len(pairs)} pairs", "reported", source),
                   Evidence(f"GPU{far[0]}-GPU{far[1]} NVLinks", 0, f"links, PCIe path {_path(node, *far)} "
                            "(the farthest of them)", "reported", _bond_source(node, *far))]


def _crosses_pcie(node: Node, dep: Deployment, group: tuple[int, ...]) -> Finding:
    missing, evidence = _missing_nvlink(node, group)
    now = _comm(dep, dep.tp, group_link(node, group), f"now: TP={dep.tp} on {_names(group)} over PCIe")
    evidence.append(now)
    options = []
    memory = gpu_memory(node, dep)
    if memory and fit_at(dep, memory[0], 1).fits:
        evidence.append(_comm(dep, 1, group_link(node, group), "option: TP=1 replicas"))
        options.append("run TP=1 replicas (the model fits one GPU; no all-reduce per token)")
    alternative = next((c for c in itertools.combinations(sorted(g.index for g in node.gpus), dep.tp)
                        if ring_nvlinked(node, c)), None)
    if alternative:
        evidence.append(_comm(dep, dep.tp, group_link(node, alternative),
                              f"option: TP={dep.tp} on {_names(alternative)}"))
        options.append(f"move the TP group to {_names(alternative)}, joined by NVLink "
                       f"({evidence[-1].value:.3g} instead of {now.value:.3g} ms/token "
                       "of all-reduce, modelled)")
    # Critical when NVLink works elsewhere on this node: this group misses what it could have.
    up = nvlink_up(node)
    if len(options) > 1:
        advice = f"Either {options[0]}, or {options[1]}."
    elif options:
        advice = options[0][0].upper() + options[0][1:] + "."
    elif up:
        advice = (f"No group of {dep.tp} GPUs on this node is joined by NVLink: every token pays the "
                  "PCIe all-reduce time above until the NVLink is repaired.")
    else:
        fix = ("install or reseat the NVLink bridges" if nvlink_expected(node)
               else "use a node whose GPUs share NVLink")
        advice = (f"No NVLink is up on this node: every token pays the PCIe all-reduce time above. "
                  f"Use the smallest TP the model fits, or {fix}.")
    return Finding("critical" if up else "warning", f"This TP group's all-reduces cross PCIe: {missing}",
                   tuple(evidence), advice, "the-wire")


def _path(node: Node, a: int, b: int) -> str:
    pair = node.find_pair(a, b)
    return pair.path if pair and pair.path else "not reported"


def _spans_nodes(node: Node, dep: Deployment) -> Finding:
    network = dataclasses.replace(LINKS["ib-ndr"], assumption="the network between nodes is not "
                                  "reported: InfiniBand NDR assumed")
    evidence = [_launch(dep, "TP size", dep.tp, "GPUs")]
    if node.gpus:
        evidence.append(_node_gpus(node))
    else:
        evidence.append(Evidence("GPUs per node", dep.gpus_per_node, "GPUs", "modelled",
                                 f"TP x PP / nodes from {dep.named_in} ({dep.tp} x {dep.pp} / {dep.nodes})"))
    evidence.append(_comm(dep, dep.tp, network, f"all-reduce over {network.name}"))
    local = group_link(node, tuple(g.index for g in node.gpus)) if len(node.gpus) > 1 else None
    if local:
        evidence.append(_comm(dep, dep.tp, local, f"for comparison: the same all-reduce over this "
                                                  f"node's {local.name}"))
    per_node = len(node.gpus) or dep.gpus_per_node
    title = (f"TP={dep.tp} spans nodes: every all-reduce crosses the network" if dep.tp_spans_nodes
             else f"TP={dep.tp} needs more GPUs than this node's {per_node}: its all-reduces would "
                  "cross the network")
    if local and local.bandwidth_Bps <= network.bandwidth_Bps:
        return Finding(
            "info", f"{title}, though this node's own {local.name} is no faster", tuple(evidence),
            "Spanning nodes adds little here: all-reduces are as slow inside this node. Use the "
            "smallest TP the model fits, or GPUs joined by NVLink.", "all-reduce-tax")
    return Finding(
        "warning", title, tuple(evidence),
        f"Keep TP inside one node (TP <= {per_node}) and use pipeline parallelism or replicas "
        "across nodes (Megatron-LM, arXiv 1909.08053, keeps TP groups inside 8-GPU NVLink "
        "domains).", "all-reduce-tax")
