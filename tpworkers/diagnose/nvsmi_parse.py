"""Pasted nvidia-smi text -> topology.Node (every field marked reported-nvidia-smi): ``parse``
detects which output a text is and hands it to its reader, nvsmi_matrix (``topo -m``,
``topo -p2p r``) or nvsmi_nvlink (``nvlink -s``, ``-R``, ``--capabilities``); formats as
nvidia-smi prints them and documents in `nvidia-smi topo -h` / `nvidia-smi nvlink -h`, old and
new drivers. Anything unreadable raises ParseError naming the line.

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

from tpworkers.diagnose.nvsmi_checks import HEADER_GPU0
from tpworkers.diagnose.nvsmi_errors import ParseError
from tpworkers.diagnose.nvsmi_matrix import parse_p2p_matrix, parse_topo_matrix
from tpworkers.diagnose.nvsmi_nvlink import (CAPABILITY, GPU_HEADER, parse_nvlink_capabilities, parse_nvlink_remote,
                                             parse_nvlink_status)
from tpworkers.diagnose.nvsmi_text import is_elision, numbered_lines
from tpworkers.diagnose.textinput import decode
from tpworkers.diagnose.topology import Node, Topology

_P2P_LEGEND = re.compile(r"^\s*(CNS|GNS|TNS)\s+=", re.M)
PARSERS = {"topo-m": parse_topo_matrix, "topo-p2p": parse_p2p_matrix, "nvlink-status": parse_nvlink_status,
           "nvlink-remote": parse_nvlink_remote, "nvlink-capabilities": parse_nvlink_capabilities}


def detect_kind(text: str) -> str:
    numbered = [(no, line) for no, line in numbered_lines(text) if line.strip()]
    if not numbered:
        raise ParseError(1, text[:80], "the text is empty")
    if any(CAPABILITY.match(line.strip()) for _, line in numbered[:3]) or (
            any(GPU_HEADER.match(line.strip()) for _, line in numbered[:1])
            and any(CAPABILITY.match(line.strip()) for _, line in numbered[1:3])):
        return "nvlink-capabilities"
    if any(GPU_HEADER.match(line.strip()) for _, line in numbered if "Link" not in line):
        return "nvlink-remote" if "Remote Device" in text else "nvlink-status"
    no, first = next(((n, line) for n, line in numbered if not is_elision(line)), numbered[0])
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
    return kind, PARSERS[kind](text, hostname)


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
