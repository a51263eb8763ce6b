"""Files for ``python -m tpworkers.diagnose FILES...`` -> findings.Inputs.

Each file is one of:
- pasted nvidia-smi output (topo -m, topo -p2p r, nvlink -s, nvlink -R), merged into one node;
- launch lines or the small deployment YAML (tpworkers.diagnose.deployments);
- JSON: a topology (``{"nodes": [...]}``, as Topology.to_dict writes it, e.g. saved NVML
  probes), a HF config.json for a model outside the catalog, or measurements
  ``{"measurements": [{"gpus": [0, 1], "busbw_GBps": 20} | {"gpus": [0, 1], "points":
  [[bytes, seconds], ...]}]}``.
A config.json is named by its ``_name_or_path``, else its file name ("my-model.json"), else
its folder ("my-model/config.json"); a launch line's model matches it by that name or its last
part ("myorg/my-model"). One config and one unknown model: the config is taken for it, and the
evidence says so (deployment_fields.adopt_lone_config).
``--earlier PROBE.json`` names an earlier saved probe of the same node: NVLink error counters
that grew since then become a finding.
"""
from __future__ import annotations

import json
from pathlib import Path

from tpworkers.diagnose.deployment_fields import DeploymentError, NotADeployment, adopt_lone_config
from tpworkers.diagnose.deployments import parse_deployments
from tpworkers.diagnose.findings import Inputs
from tpworkers.diagnose.nvsmi_parse import ParseError, detect_kind, parse
from tpworkers.diagnose.textinput import decode
from tpworkers.diagnose.topology import Node, PairMeasurement, Topology, resolve_remote_gpus
from tpworkers.diagnose.topology_merge import merge


class InputError(ValueError):
    pass


def load(paths: list[str], earlier: str | None = None) -> Inputs:
    nodes: list[Node] = []
    configs: dict[str, dict] = {}
    measurements: list[PairMeasurement] = []
    texts = []
    for path in map(Path, paths):
        text = _read(path)
        if path.suffix == ".json":
            _load_json(path, text, nodes, configs, measurements)
        else:
            texts.append((path, text))
    deployment_texts = []
    for path, text in texts:
        try:
            detect_kind(text)
        except ParseError as not_smi:
            deployment_texts.append((path, text, not_smi))
            continue
        try:
            nodes.append(parse(text)[1])
        except ParseError as exc:
            raise InputError(f"{path}: {exc}") from None
    deployments = []
    for path, text, not_smi in deployment_texts:
        try:
            deployments += parse_deployments(text, configs)
        except NotADeployment as exc:
            raise InputError(f"{path}: neither nvidia-smi output ({not_smi}) nor a deployment "
                             f"({exc})") from None
        except DeploymentError as exc:
            raise InputError(f"{path}: {exc}") from None
    node = merge(*nodes) if nodes else Node()
    resolve_remote_gpus(node)
    return Inputs(node, adopt_lone_config(deployments, configs), measurements,
                  earlier_probe=_earlier_probe(earlier) if earlier else None)


def _earlier_probe(path: str) -> Node:
    """The node of an earlier saved topology (``python -m tpworkers.diagnose.nvml_probe --json``)."""
    nodes: list[Node] = []
    _load_json(Path(path), _read(Path(path)), nodes, {}, [])
    if len(nodes) != 1:
        raise InputError(f"{path}: --earlier needs a saved topology of one node, found {len(nodes)}")
    return nodes[0]


def _read(path: Path) -> str:
    """A file's text, whatever encoding a paste was saved in (textinput.decode)."""
    try:
        return decode(path.read_bytes(), str(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _load_json(path: Path, text: str, nodes, configs, measurements) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and "nodes" in data:
        try:
            nodes += Topology.from_dict(data).nodes
        except (TypeError, AttributeError) as exc:
            raise InputError(f"{path}: not a topology as the lab saves it ({exc})") from None
    elif isinstance(data, dict) and "measurements" in data:
        for item in data["measurements"]:
            try:
                measurements.append(PairMeasurement(
                    gpus=tuple(item["gpus"]),
                    points=tuple(tuple(p) for p in item.get("points", ())),
                    busbw_Bps=item["busbw_GBps"] * 1e9 if "busbw_GBps" in item else None))
            except (KeyError, TypeError) as exc:
                raise InputError(f"{path}: measurement {item!r} needs gpus and points or "
                                 f"busbw_GBps ({exc})") from None
    elif isinstance(data, dict) and ("hidden_size" in data or "text_config" in data):
        name = data.get("_name_or_path") or (path.parent.name if path.stem == "config" else path.stem)
        configs[name or path.name] = data
    else:
        raise InputError(f"{path}: JSON is neither a topology, measurements nor a config.json")
