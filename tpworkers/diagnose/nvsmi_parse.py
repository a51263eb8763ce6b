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
- ``nvlink --capabilities`` (``-c``): ``Link 0, P2P is supported: true``: read for the GPUs it
  names; it says what links could do, not whether they are up (``nvlink -s`` says that).
``parse`` detects which one a text is. Anything unreadable raises ParseError naming the line.

What real pastes carry and is read, not refused (tests/fixtures/real/SOURCES.md cites each):
colour escapes whose ESC byte was lost on copy (``[4mGPU0 ... [0m``, SGLang's check_env), a
heading or the echoed command before the output, elision lines (``...``, ``....``, ``[snip]``)
and redacted UUIDs (``(UUID: ...)``) in forum pastes, a blank CPU Affinity cell, a header whose
tabs a web page removed (``GPU0GPU1...mlx5_0``: recovered from the row labels, which are the
same devices in the same order). Values that cannot be are refused: ``NV0``, more NVLinks
than any GPU has, a matrix that is not symmetric or whose diagonal is not X, GPU index gaps.
"""
from __future__ import annotations

import json
import re
import sys

from tpworkers.diagnose.limits import MAX_GPUS_PER_NODE, MAX_NICS_PER_NODE, MAX_NVLINKS_PER_GPU, NODE_SIZE_WHY
from tpworkers.diagnose.nvsmi_checks import (HEADER_GPU0, blank_first, check_cell, check_consistent, columns_of,
                                             gpu_index)
from tpworkers.diagnose.nvsmi_errors import ParseError
from tpworkers.diagnose.textinput import decode
from tpworkers.diagnose.topology import NIC, SMI, NicPath, Node, NvLinkLink, Topology, put

TOPO_CELLS = re.compile(r"^(X|NV\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$")
P2P_CELLS = re.compile(r"^(X|OK|CNS|GNS|TNS|NS|DR|U)$")
# Colour escapes, also when the copy lost the ESC byte and left "[4m" / "[0m" behind.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\[[0-9;]*m(?=\S|$)|(?<=\S)\[[0-9;]*m")
_GPU_HEADER = re.compile(r"^GPU (\d+): (.+?)(?: \(UUID: ([^)\s]*)\))?$")  # no \s: one scan per "(UUID:"
MAX_LINK_SPEED_Bps = 1000e9  # 20x NVLink 5's 50 GB/s: a larger figure is a typo or an attack
_UUID = re.compile(r"^GPU-[0-9A-Fa-f-]+$")
_ELISION = re.compile(r"^(\.{2,}|…|\[?snip\]?|\[\.\.\.\])$", re.IGNORECASE)
_CAPABILITY = re.compile(r"^Link (\d+), .+: (true|false)$")
_LINK_SPEED = re.compile(r"^Link (\d+): (?:(\d+(?:\.\d+)?) GB/s|<inactive>)$")
_LINK_REMOTE = re.compile(r"^Link (\d+): (?:Remote Device ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:"
                          r"[0-9A-Fa-f]{2}\.[0-9A-Fa-f]): Link (\d+)|<inactive>)$")
_LEGEND_LINE = re.compile(r"^(\S+\s*=\s*.+|NIC Legend:|NIC\d+:\s*\S+)$")
_NVML_NOTE = re.compile(r"^NVML: .*|.*(Unable to retrieve|Not Supported|not supported).*$")
KINDS = ("topo-m", "topo-p2p", "nvlink-status", "nvlink-remote", "nvlink-capabilities")


def _lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines without colour codes, the echoed command (`$ nvidia-smi ...`), a heading
    such as SGLang's "NVIDIA Topology:", or elision lines ("....") a paste put in."""
    out = []
    for no, line in enumerate(_ANSI.sub("", text.lstrip("\ufeff")).replace("\r", "").split("\n"), start=1):
        stripped = line.strip()
        if re.fullmatch(r"[\w ]*Topology:", stripped):
            out = []  # an environment check (sglang/lmdeploy check_env): what came before is versions
            continue
        if "nvidia-smi" in line and "GPU0" not in line:
            continue
        out.append((no, line.rstrip()))
    return out


_P2P_LEGEND = re.compile(r"^\s*(CNS|GNS|TNS)\s+=", re.M)


def _elided(line: str) -> bool:
    return bool(_ELISION.match(line.strip()))


def detect_kind(text: str) -> str:
    numbered = [(no, line) for no, line in _lines(text) if line.strip()]
    if not numbered:
        raise ParseError(1, text[:80], "the text is empty")
    if any(_CAPABILITY.match(line.strip()) for _, line in numbered[:3]) or (
            any(_GPU_HEADER.match(line.strip()) for _, line in numbered[:1])
            and any(_CAPABILITY.match(line.strip()) for _, line in numbered[1:3])):
        return "nvlink-capabilities"
    if any(_GPU_HEADER.match(line.strip()) for _, line in numbered if "Link" not in line):
        return "nvlink-remote" if "Remote Device" in text else "nvlink-status"
    no, first = next(((n, line) for n, line in numbered if not _elided(line)), numbered[0])
    if HEADER_GPU0.search(first):
        width = len([t for t in first.split() if re.fullmatch(r"GPU\d+", t)])
        cells = {c for _, line in numbered[1:] if re.match(r"\s*GPU\d+\s", line)
                 for c in line.split()[1:1 + width]}
        # Cells only topo -p2p prints; a consumer GPU's p2p matrix may hold nothing but NS/U,
        # and a one-GPU matrix nothing but X, where only its legend ("CNS = ...") tells.
        p2p_cells = cells & {"OK", "CNS", "GNS", "TNS", "DR", "NS", "U"}
        return "topo-p2p" if p2p_cells or _P2P_LEGEND.search(text) else "topo-m"
    raise ParseError(no, first, "not a recognised nvidia-smi output (expected topo -m, "
                                "topo -p2p r, nvlink -s, nvlink -R or nvlink --capabilities)")


def parse(text: str, hostname: str = "node") -> tuple[str, Node]:
    """Detect the output kind and parse it; returns (kind, node)."""
    kind = detect_kind(text)
    parser = {"topo-m": parse_topo_matrix, "topo-p2p": parse_p2p_matrix,
              "nvlink-status": parse_nvlink_status, "nvlink-remote": parse_nvlink_remote,
              "nvlink-capabilities": parse_nvlink_capabilities}[kind]
    return kind, parser(text, hostname)


def _matrix(text: str, cell_pattern: re.Pattern) -> tuple[list[str], dict, dict, dict]:
    """Read a device matrix: returns (columns, cells[row][col], trailing[row], nic legend)."""
    numbered = [(no, line) for no, line in _lines(text) if line.strip() and not _elided(line)]
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


def _gpu_number(no: int, line: str, digits: str) -> int:
    """A GPU N line's index, refused beyond a node (and before int() reads a 5000-digit one)."""
    if len(digits) > 2 or int(digits) >= MAX_GPUS_PER_NODE:
        raise ParseError(no, line, f"GPU {digits}: indices run from 0 to {MAX_GPUS_PER_NODE - 1}; {NODE_SIZE_WHY}")
    return int(digits)


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


def _parse_nvlink(text: str, link_pattern: re.Pattern, expected: str, hostname: str,
                  make_link) -> Node:
    """Walk 'GPU N: NAME (UUID: ...)' headers and their 'Link N: ...' lines. An elision line
    ("...", "....") is skipped; the GPU it cuts short is noted in node.reasons (its missing
    links are unknown, not down: see pairlinks.nvlink_states)."""
    node, gpu = Node(hostname), None
    last_no, last_line, elided = 1, "", False
    for no, line in _lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if _elided(stripped):
            elided = True
            if gpu is not None:
                node.reasons.append(f"GPU {gpu.index}: {ELIDED_NOTE}")
            continue
        if m := _GPU_HEADER.match(stripped):
            gpu = node.add_gpu(_gpu_number(no, line, m.group(1)))
            uuid = m.group(3) if m.group(3) and _UUID.match(m.group(3)) else None
            put(gpu, SMI, name=m.group(2), uuid=uuid)
        elif gpu is None:
            raise ParseError(no, line, "expected a 'GPU N: NAME (UUID: ...)' line first")
        elif m := link_pattern.match(stripped):
            if len(m.group(1)) > 2 or int(m.group(1)) >= MAX_NVLINKS_PER_GPU:
                raise ParseError(no, line, f"Link {m.group(1)[:8]}: a GPU has at most {MAX_NVLINKS_PER_GPU} "
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
    if not elided:
        _check_last_gpu_complete(node, gpu, last_no, last_line)
    return node


ELIDED_NOTE = "the paste elides some of its links ('...')"


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
    put(link, SMI, state="active" if m.group(2) else "inactive", remote_bus_id=m.group(2),
        remote_link=int(m.group(3)) if m.group(3) and len(m.group(3)) <= 2 else None)
    return link


def parse_nvlink_status(text: str, hostname: str = "node") -> Node:
    return _parse_nvlink(text, _LINK_SPEED, "'Link N: 26.562 GB/s' or 'Link N: <inactive>'",
                         hostname, _speed_link)


def parse_nvlink_remote(text: str, hostname: str = "node") -> Node:
    return _parse_nvlink(text, _LINK_REMOTE, "'Link N: Remote Device 00000000:52:00.0: Link M' "
                         "or 'Link N: <inactive>'", hostname, _remote_link)


def parse_nvlink_capabilities(text: str, hostname: str = "node") -> Node:
    """``nvlink --capabilities``: the GPUs it names (name, UUID). What each link supports says
    nothing about whether it is up, so no link state is recorded; the node says so."""
    node, gpu = Node(hostname), None
    for no, line in _lines(text):
        stripped = line.strip()
        if not stripped or _elided(stripped) or _CAPABILITY.match(stripped):
            continue
        if m := _GPU_HEADER.match(stripped):
            gpu = node.add_gpu(_gpu_number(no, line, m.group(1)))
            put(gpu, SMI, name=m.group(2),
                uuid=m.group(3) if m.group(3) and _UUID.match(m.group(3)) else None)
        else:
            raise ParseError(no, line, "expected 'Link N, <capability>: true|false' lines of "
                                       "nvidia-smi nvlink --capabilities")
    node.reasons.append("nvlink --capabilities lists what each link supports, not whether it is "
                        "up: paste `nvidia-smi nvlink -s` for the link states")
    return node


def main(argv: list[str]) -> int:
    """python -m tpworkers.diagnose.nvsmi_parse FILE...: the kind and the parsed node of each file."""
    for path in argv:
        with open(path, "rb") as f:
            try:
                kind, node = parse(decode(f.read(), path))
            except ValueError as e:  # ParseError or undecodable bytes
                print(f"{path}: {e}", file=sys.stderr)
                return 1
        print(f"# {path}: {kind}")
        print(json.dumps(Topology([node]).to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
