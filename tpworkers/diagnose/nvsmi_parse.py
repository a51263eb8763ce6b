"""Parsers for pasted nvidia-smi text -> topology.Node (every field marked reported-nvidia-smi).

Handled outputs (formats as nvidia-smi prints them and documents in `nvidia-smi topo -h` /
`nvidia-smi nvlink -h`; old and new drivers):
- ``topo -m``: GPU/NIC matrix of X, NV#, PIX, PXB, PHB, NODE, SYS (old drivers: SOC), then
  CPU Affinity / NUMA Affinity / GPU NUMA ID columns; NIC columns named NIC# (with a
  "NIC Legend") or, on old drivers, by device (mlx5_0). Tabs or runs of spaces.
- ``topo -p2p r``: the same matrix shape with OK, CNS, GNS, TNS, NS, DR, U.
- ``nvlink -s`` / ``--status``: ``GPU 0: NAME (UUID: GPU-...)`` then ``Link 0: 26.562 GB/s``
  or ``Link 4: <inactive>``.
- ``nvlink -R``: ``Link 0: Remote Device 00000000:D5:00.0: Link 0``.
``parse`` detects which one a text is. Anything unreadable raises ParseError naming the line.
"""
from __future__ import annotations

import json
import re
import sys

from tpworkers.diagnose.limits import (MAX_GPUS_PER_NODE, MAX_NICS_PER_NODE, MAX_NVLINKS_PER_GPU, NODE_SIZE_WHY,
                                       shown)
from tpworkers.diagnose.topology import NIC, SMI, NicPath, Node, NvLinkLink, Topology, put

TOPO_CELLS = re.compile(r"^(X|NV\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$")
P2P_CELLS = re.compile(r"^(X|OK|CNS|GNS|TNS|NS|DR|U)$")
TRAILING_COLUMNS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_GPU_HEADER = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[0-9A-Fa-f-]+)\)$")
_LINK_SPEED = re.compile(r"^Link (\d+): (?:(\d+(?:\.\d+)?) GB/s|<inactive>)$")
_LINK_REMOTE = re.compile(r"^Link (\d+): (?:Remote Device ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:"
                          r"[0-9A-Fa-f]{2}\.[0-9A-Fa-f]): Link (\d+)|<inactive>)$")
_LEGEND_LINE = re.compile(r"^(\S+\s*=\s*.+|NIC Legend:|NIC\d+:\s*\S+)$")
_NVML_NOTE = re.compile(r"^NVML: .*|.*(Unable to retrieve|Not Supported|not supported).*$")
MAX_LINK_SPEED_Bps = 1000e9  # 20x NVLink 5's 50 GB/s: a larger figure is a typo or an attack
KINDS = ("topo-m", "topo-p2p", "nvlink-status", "nvlink-remote")


class ParseError(ValueError):
    def __init__(self, line_no: int, line: str, why: str):
        line = shown(line)  # a refused megabyte line is not echoed back whole
        super().__init__(f"line {line_no}: could not read '{' '.join(line.split())}': {why}")
        self.line_no, self.line, self.why = line_no, line, why


def _lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines without ANSI colour codes or the echoed command (`$ nvidia-smi ...`)."""
    out = []
    for no, line in enumerate(_ANSI.sub("", text).replace("\r", "").split("\n"), start=1):
        if "nvidia-smi" in line and "GPU0" not in line:
            continue
        out.append((no, line.rstrip()))
    return out


def detect_kind(text: str) -> str:
    numbered = [(no, line) for no, line in _lines(text) if line.strip()]
    if not numbered:
        raise ParseError(1, text[:80], "the text is empty")
    if any(_GPU_HEADER.match(line.strip()) for _, line in numbered):
        return "nvlink-remote" if "Remote Device" in text else "nvlink-status"
    no, first = numbered[0]
    if re.search(r"\bGPU0\b", first):
        width = len([t for t in first.split() if re.fullmatch(r"GPU\d+", t)])
        cells = {c for _, line in numbered[1:] if re.match(r"\s*GPU\d+\s", line)
                 for c in line.split()[1:1 + width]}
        # Cells only topo -p2p prints; a consumer GPU's p2p matrix may hold nothing but NS/U.
        return "topo-p2p" if cells & {"OK", "CNS", "GNS", "TNS", "DR", "NS", "U"} else "topo-m"
    raise ParseError(no, first, "not a recognised nvidia-smi output (expected topo -m, "
                                "topo -p2p r, nvlink -s or nvlink -R)")


def parse(text: str, hostname: str = "node") -> tuple[str, Node]:
    """Detect the output kind and parse it; returns (kind, node)."""
    kind = detect_kind(text)
    parser = {"topo-m": parse_topo_matrix, "topo-p2p": parse_p2p_matrix,
              "nvlink-status": parse_nvlink_status, "nvlink-remote": parse_nvlink_remote}[kind]
    return kind, parser(text, hostname)


def _matrix(text: str, cell_pattern: re.Pattern) -> tuple[list[str], dict, dict, dict]:
    """Read a device matrix: returns (columns, cells[row][col], trailing[row], nic legend)."""
    numbered = [(no, line) for no, line in _lines(text) if line.strip()]
    if not numbered:
        raise ParseError(1, "", "the text is empty")
    header_no, header = numbered[0]
    if "GPU0" not in header.split():
        raise ParseError(header_no, header, "expected a header row starting with GPU0")
    tokens = header.split()
    tokens = tokens[tokens.index("GPU0"):]
    # The matrix columns end where a trailing column's name starts (each is at most 3 words):
    # one pass over the tokens, not a shrinking copy of the header per token.
    end = next((i for i in range(len(tokens))
                if any(" ".join(tokens[i:i + 3]).startswith(name) for name in TRAILING_COLUMNS)), len(tokens))
    columns, rest = tokens[:end], " ".join(tokens[end:])
    _check_columns(header_no, header, columns)
    trailing_names = [name for name in TRAILING_COLUMNS if name in rest]
    cells: dict[str, dict[str, str]] = {}
    trailing: dict[str, dict[str, str]] = {}
    legend: dict[str, str] = {}
    in_legend = False
    last_no, last_line = header_no, header
    for no, line in numbered[1:]:
        stripped = line.strip()
        if stripped == "Legend:":
            in_legend = True
            continue
        if in_legend:
            if not _LEGEND_LINE.match(stripped):
                raise ParseError(no, line, "unexpected text in the legend")
            if m := re.match(r"^(NIC\d+):\s*(\S+)$", stripped):
                legend[m.group(1)] = m.group(2)
            continue
        row = stripped.split()
        label, values = row[0], row[1:]
        if label not in columns:
            raise ParseError(no, line, f"row label {label!r} is not a column of the header")
        if label in cells:
            raise ParseError(no, line, f"row {label} appears twice")
        if len(values) < len(columns):
            raise ParseError(no, line, f"expected {len(columns)} matrix cells, found "
                                       f"{len(values)} (truncated?)")
        bad = [v for v in values[:len(columns)] if not cell_pattern.match(v)]
        if bad:
            raise ParseError(no, line, f"unknown cell value {bad[0]!r}")
        extra = values[len(columns):]
        if len(extra) > len(trailing_names):
            raise ParseError(no, line, f"{len(extra)} values after the matrix, header names "
                                       f"{len(trailing_names)}")
        if label.startswith("GPU") and len(extra) < len(trailing_names):
            raise ParseError(no, line, f"expected {len(trailing_names)} values after the matrix "
                                       f"({', '.join(trailing_names)}), found {len(extra)} "
                                       "(truncated?)")
        cells[label] = dict(zip(columns, values))
        trailing[label] = dict(zip(trailing_names, extra))
        last_no, last_line = no, line
    missing = [c for c in columns if c.startswith("GPU") and c not in cells]
    if missing:
        raise ParseError(last_no, last_line, f"the matrix stops here; rows for "
                                             f"{', '.join(missing)} are missing (truncated?)")
    return columns, cells, trailing, legend


def _check_columns(no: int, header: str, columns: list[str]) -> None:
    gpus = sum(1 for c in columns if _gpu_index(c) is not None)
    if gpus > MAX_GPUS_PER_NODE:
        raise ParseError(no, header, f"the header names {gpus} GPU columns; {NODE_SIZE_WHY}")
    if len(columns) - gpus > MAX_NICS_PER_NODE:
        raise ParseError(no, header, f"the header names {len(columns) - gpus} NIC columns; at most "
                                     f"{MAX_NICS_PER_NODE} are read")
    beyond = next((c for c in columns if (_gpu_index(c) or 0) >= MAX_GPUS_PER_NODE), None)
    if beyond:
        raise ParseError(no, header, f"column {beyond}: GPU indices run from 0 to {MAX_GPUS_PER_NODE - 1}; "
                                     f"{NODE_SIZE_WHY}")


def _gpu_index(label: str) -> int | None:
    m = re.fullmatch(r"GPU(\d+)", label)
    return int(m.group(1)) if m else None


def parse_topo_matrix(text: str, hostname: str = "node") -> Node:
    columns, cells, trailing, legend = _matrix(text, TOPO_CELLS)
    node = Node(hostname)
    gpus = [c for c in columns if _gpu_index(c) is not None]
    nics = [c for c in columns if _gpu_index(c) is None]
    for label in gpus:
        gpu = node.add_gpu(_gpu_index(label))
        extra = trailing.get(label, {})
        put(gpu, SMI, cpu_affinity=extra.get("CPU Affinity"),
            numa_affinity=_number(extra.get("NUMA Affinity")),
            gpu_numa_id=_number(extra.get("GPU NUMA ID")))
    for name in nics:
        put(_nic(node, name), SMI, device=legend.get(name, name))
    for i, a in enumerate(gpus):
        for b in gpus[i + 1:]:
            cell = cells[a][b]
            pair = node.add_pair(_gpu_index(a), _gpu_index(b))
            if cell.startswith("NV"):
                put(pair, SMI, nvlink_count=int(cell[2:]))
            else:
                put(pair, SMI, path=_level(cell), nvlink_count=0)
        for name in nics:
            path = NicPath(_gpu_index(a), name)
            put(path, SMI, path=_level(cells[a][name]))
            node.nic_paths.append(path)
    return node


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
    gpus = [c for c in columns if _gpu_index(c) is not None]
    for i, a in enumerate(gpus):
        node.add_gpu(_gpu_index(a))
        for b in gpus[i + 1:]:
            put(node.add_pair(_gpu_index(a), _gpu_index(b)), SMI, p2p_read=cells[a][b])
    return node


def _parse_nvlink(text: str, link_pattern: re.Pattern, expected: str, hostname: str,
                  make_link) -> Node:
    """Walk 'GPU N: NAME (UUID: ...)' headers and their 'Link N: ...' lines."""
    node, gpu = Node(hostname), None
    last_no, last_line = 1, ""
    for no, line in _lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if m := _GPU_HEADER.match(stripped):
            if len(m.group(1)) > 2 or int(m.group(1)) >= MAX_GPUS_PER_NODE:
                raise ParseError(no, line, f"GPU {m.group(1)}: indices run from 0 to "
                                           f"{MAX_GPUS_PER_NODE - 1}; {NODE_SIZE_WHY}")
            gpu = node.add_gpu(int(m.group(1)))
            put(gpu, SMI, name=m.group(2), uuid=m.group(3))
        elif gpu is None:
            raise ParseError(no, line, "expected a 'GPU N: NAME (UUID: ...)' line first")
        elif m := link_pattern.match(stripped):
            if len(m.group(1)) > 2 or int(m.group(1)) >= MAX_NVLINKS_PER_GPU:
                raise ParseError(no, line, f"Link {shown(m.group(1))}: a GPU has at most {MAX_NVLINKS_PER_GPU} "
                                           "NVLinks (NVML_NVLINK_MAX_LINKS), numbered from 0")
            link = make_link(m)
            if link.speed_Bps is not None and not link.speed_Bps <= MAX_LINK_SPEED_Bps:
                raise ParseError(no, line, f"a link speed of at most {MAX_LINK_SPEED_Bps / 1e9:.0f} GB/s is "
                                           "read (NVLink 5 carries 50 GB/s per link and direction)")
            if any(known.link == link.link for known in gpu.nvlinks):
                raise ParseError(no, line, f"Link {link.link} of GPU {gpu.index} appears twice")
            gpu.nvlinks.append(link)
        elif _NVML_NOTE.match(stripped):
            node.reasons.append(f"GPU {gpu.index}: {stripped}")
        elif re.match(r"^Link \d+", stripped):
            raise ParseError(no, line, f"this Link line is incomplete or garbled: expected "
                                       f"{expected} (truncated?)")
        else:
            raise ParseError(no, line, "expected 'Link N: ...' under a GPU line")
        last_no, last_line = no, line
    if gpu is None:
        raise ParseError(1, text.split("\n")[0], "no 'GPU N: NAME (UUID: ...)' line found")
    _check_last_gpu_complete(node, gpu, last_no, last_line)
    return node


def _check_last_gpu_complete(node: Node, last, line_no: int, line: str) -> None:
    """A paste cut at a line boundary leaves the last GPU with fewer links than the others."""
    most = max(len(g.nvlinks) for g in node.gpus)
    noted = any(reason.startswith(f"GPU {last.index}:") for reason in node.reasons)
    if len(last.nvlinks) < most and not noted:
        raise ParseError(line_no, line, f"GPU {last.index} lists {len(last.nvlinks)} links where "
                                        f"the GPUs before it list {most}: the text stops here "
                                        "(truncated?)")


def _speed_link(m: re.Match) -> NvLinkLink:
    link, speed = NvLinkLink(int(m.group(1))), m.group(2)
    put(link, SMI, state="active" if speed else "inactive",
        speed_Bps=float(speed) * 1e9 if speed else None)
    return link


def _remote_link(m: re.Match) -> NvLinkLink:
    link = NvLinkLink(int(m.group(1)))
    put(link, SMI, state="active" if m.group(2) else "inactive", remote_bus_id=m.group(2))
    return link


def parse_nvlink_status(text: str, hostname: str = "node") -> Node:
    return _parse_nvlink(text, _LINK_SPEED, "'Link N: 26.562 GB/s' or 'Link N: <inactive>'",
                         hostname, _speed_link)


def parse_nvlink_remote(text: str, hostname: str = "node") -> Node:
    return _parse_nvlink(text, _LINK_REMOTE, "'Link N: Remote Device 00000000:52:00.0: Link M' "
                         "or 'Link N: <inactive>'", hostname, _remote_link)


def main(argv: list[str]) -> int:
    """python -m tpworkers.diagnose.nvsmi_parse FILE...: the kind and the parsed node of each file."""
    for path in argv:
        with open(path) as f:
            try:
                kind, node = parse(f.read())
            except ParseError as e:
                print(f"{path}: {e}", file=sys.stderr)
                return 1
        print(f"# {path}: {kind}")
        print(json.dumps(Topology([node]).to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
