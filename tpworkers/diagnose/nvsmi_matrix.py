"""nvidia-smi's device matrices -> topology.Node (every field reported-nvidia-smi):
- ``topo -m``: GPU/NIC matrix of X, NV#, PIX, PXB, PHB, NODE, SYS (old drivers: SOC), then
  CPU Affinity / NUMA Affinity / GPU NUMA ID columns; NIC columns named NIC# (with a
  "NIC Legend") or, on old drivers, by device (mlx5_0). Tabs or runs of spaces.
- ``topo -p2p r``: the same matrix shape with OK, CNS, GNS, TNS, NS, DR, U.
What the reader checks beyond cell syntax is in nvsmi_checks; anything unreadable raises
ParseError naming the line.
"""
from __future__ import annotations

import re

from tpworkers.diagnose.limits import MAX_GPUS_PER_NODE, MAX_NICS_PER_NODE, NODE_SIZE_WHY
from tpworkers.diagnose.nvsmi_checks import (HEADER_GPU0, blank_first, check_cell, check_consistent, columns_of,
                                             gpu_index)
from tpworkers.diagnose.nvsmi_errors import ParseError
from tpworkers.diagnose.nvsmi_text import is_elision, numbered_lines
from tpworkers.diagnose.topology import NIC, SMI, NicPath, Node, put

TOPO_CELLS = re.compile(r"^(X|NV\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$")
P2P_CELLS = re.compile(r"^(X|OK|CNS|GNS|TNS|NS|DR|U)$")
_LEGEND_LINE = re.compile(r"^(\S+\s*=\s*.+|NIC Legend:|NIC\d+:\s*\S+)$")


def _matrix(text: str, cell_pattern: re.Pattern) -> tuple[list[str], dict, dict, dict]:
    """Read a device matrix: returns (columns, cells[row][col], trailing[row], nic legend)."""
    numbered = [(no, line) for no, line in numbered_lines(text) if line.strip() and not is_elision(line)]
    if not numbered:
        raise ParseError(1, "", "the text is empty")
    header_no, header = numbered[0]
    if not HEADER_GPU0.search(header):
        raise ParseError(header_no, header, "expected a header row starting with GPU0")
    body = _body(numbered[1:])
    columns, trailing_names = columns_of(header_no, header, [row[1].split()[0] for row in body])
    _check_columns(header_no, header, columns)
    cells: dict[str, dict[str, str]] = {}
    trailing: dict[str, dict[str, str]] = {}
    last_no, last_line = header_no, header
    for no, line in body:
        row = line.split()
        label, values = row[0], row[1:]
        if label not in columns:
            raise ParseError(no, line, f"row label {label!r} is not a column of the header")
        if label in cells:
            raise ParseError(no, line, f"row {label} appears twice")
        if len(values) < len(columns):
            raise ParseError(no, line, f"expected {len(columns)} matrix cells, found "
                                       f"{len(values)} (truncated?)")
        for value in values[:len(columns)]:
            check_cell(no, line, value, cell_pattern)
        extra = values[len(columns):]
        if len(extra) > len(trailing_names):
            raise ParseError(no, line, f"{len(extra)} values after the matrix, header names "
                                       f"{len(trailing_names)}")
        if label.startswith("GPU") and len(extra) < len(trailing_names) and not blank_first(
                line, len(columns), extra):
            raise ParseError(no, line, f"expected {len(trailing_names)} values after the matrix "
                                       f"({', '.join(trailing_names)}), found {len(extra)} "
                                       "(truncated?)")
        cells[label] = dict(zip(columns, values))
        # A blank CPU Affinity (some H200/H20 hosts) leaves fewer values: the ones printed are
        # the rightmost (NUMA Affinity and GPU NUMA ID print N/A, never blank).
        trailing[label] = dict(zip(trailing_names[len(trailing_names) - len(extra):], extra))
        last_no, last_line = no, line
    missing = [c for c in columns if c.startswith("GPU") and c not in cells]
    if missing:
        raise ParseError(last_no, last_line, f"the matrix stops here; rows for "
                                             f"{', '.join(missing)} are missing (truncated?)")
    check_consistent(header_no, header, columns, cells, symmetric=cell_pattern is TOPO_CELLS)
    return columns, cells, trailing, _legend(numbered[1:])


def _check_columns(no: int, header: str, columns: list[str]) -> None:
    gpus = sum(1 for c in columns if gpu_index(c) is not None)
    if gpus > MAX_GPUS_PER_NODE:
        raise ParseError(no, header, f"the header names {gpus} GPU columns; {NODE_SIZE_WHY}")
    if len(columns) - gpus > MAX_NICS_PER_NODE:
        raise ParseError(no, header, f"the header names {len(columns) - gpus} NIC columns; at most "
                                     f"{MAX_NICS_PER_NODE} are read")
    beyond = next((c for c in columns if (gpu_index(c) or 0) >= MAX_GPUS_PER_NODE), None)
    if beyond:
        raise ParseError(no, header, f"column {beyond}: GPU indices run from 0 to {MAX_GPUS_PER_NODE - 1}; "
                                     f"{NODE_SIZE_WHY}")


def _body(numbered: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The matrix rows: every line before the legend."""
    rows = []
    for no, line in numbered:
        if line.strip() in ("Legend:", "NIC Legend:"):
            break
        rows.append((no, line))
    return rows


def _legend(numbered: list[tuple[int, str]]) -> dict[str, str]:
    """NIC names from the "NIC Legend" (NIC0: mlx5_0); other legend lines are checked only."""
    legend, in_legend = {}, False
    for no, line in numbered:
        stripped = line.strip()
        if stripped in ("Legend:", "NIC Legend:"):
            in_legend = True
        elif in_legend:
            if not _LEGEND_LINE.match(stripped):
                raise ParseError(no, line, "unexpected text in the legend")
            if m := re.match(r"^(NIC\d+):\s*(\S+)$", stripped):
                legend[m.group(1)] = m.group(2)
    return legend


def parse_topo_matrix(text: str, hostname: str = "node") -> Node:
    columns, cells, trailing, legend = _matrix(text, TOPO_CELLS)
    node = Node(hostname)
    gpus = [c for c in columns if gpu_index(c) is not None]
    nics = [c for c in columns if gpu_index(c) is None]
    names = _env_check_names(text)
    for label in gpus:
        gpu = node.add_gpu(gpu_index(label))
        extra = trailing.get(label, {})
        put(gpu, SMI, name=names.get(gpu.index), cpu_affinity=extra.get("CPU Affinity"),
            numa_affinity=_number(extra.get("NUMA Affinity")),
            gpu_numa_id=_number(extra.get("GPU NUMA ID")))
    for name in nics:
        put(_nic(node, name), SMI, device=legend.get(name, name))
    for i, a in enumerate(gpus):
        for b in gpus[i + 1:]:
            cell = cells[a][b]
            pair = node.add_pair(gpu_index(a), gpu_index(b))
            if cell.startswith("NV"):
                put(pair, SMI, nvlink_count=int(cell[2:]))
            else:
                put(pair, SMI, path=_level(cell), nvlink_count=0)
        for name in nics:
            path = NicPath(gpu_index(a), name)
            put(path, SMI, path=_level(cells[a][name]))
            node.nic_paths.append(path)
    return node


def _env_check_names(text: str) -> dict[int, str]:
    """GPU names an environment check prints above its topology ("GPU 0,1: NVIDIA A100-SXM4-80GB",
    sglang/lmdeploy check_env): they let the findings size models on these GPUs."""
    names = {}
    for m in re.finditer(r"^GPU ([\d,]+): (.+?)\s*$", text, re.M):
        names.update({int(i): m.group(2) for i in m.group(1).split(",") if i})
    return names


def _number(value: str | None) -> int | None:
    """A NUMA node number; N/A (not a NUMA system, or a GPU that is no NUMA node) -> None."""
    return int(value) if value and value.isascii() and value.isdigit() and len(value) <= 6 else None


def _nic(node: Node, name: str) -> NIC:
    nic = NIC(name)
    node.nics.append(nic)
    return nic


def _level(cell: str) -> str:
    return "SYS" if cell == "SOC" else cell  # old drivers called SYS "SOC"


def parse_p2p_matrix(text: str, hostname: str = "node") -> Node:
    columns, cells, _trailing, _legend = _matrix(text, P2P_CELLS)
    node = Node(hostname)
    gpus = [c for c in columns if gpu_index(c) is not None]
    for i, a in enumerate(gpus):
        node.add_gpu(gpu_index(a))
        for b in gpus[i + 1:]:
            # Peer access is asked per direction: a pair is as good as its worse direction.
            value = cells[a][b] if cells[b][a] == "OK" else cells[b][a]
            put(node.add_pair(gpu_index(a), gpu_index(b)), SMI, p2p_read=value)
    return node
