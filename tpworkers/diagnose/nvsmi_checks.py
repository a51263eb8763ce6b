"""What the topo -m / topo -p2p reader checks beyond cell syntax (tpworkers.diagnose.nvsmi_parse
uses these): a header whose tabs were lost, a blank CPU Affinity cell told from a row cut
short, and values that cannot be (NV0, more NVLinks than any GPU has, a matrix that is not
symmetric or has no X on its diagonal, GPU index gaps). Each refusal is a ParseError naming
the line and the reason."""
from __future__ import annotations

import re

from tpworkers.diagnose.nvsmi_errors import ParseError

MAX_BONDED_NVLINKS = 18  # NVLink 4 and 5 GPUs have 18 links, the most of any GPU so far
TRAILING_COLUMNS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")
HEADER_GPU0 = re.compile(r"GPU0(?!\d)")


def gpu_index(label: str) -> int | None:
    m = re.fullmatch(r"GPU(\d+)", label)
    return int(m.group(1)) if m else None


def blank_first(line: str, width: int, extra: list[str]) -> bool:
    """Is the first value after the matrix (CPU Affinity) blank rather than the row cut short?
    With tabs the empty cell shows; without them, a row whose first trailing value is no CPU
    list ("0-55,112-167") lost it to a blank cell, not to a cut."""
    if "\t" in line:
        after = line.strip().split("\t")[1 + width:]
        return bool(after) and after[0].strip() == ""
    return bool(extra) and not re.search(r"[-,]", extra[0])


def columns_of(no: int, header: str, labels: list[str]) -> tuple[list[str], list[str]]:
    """The header's device columns and the trailing column names after them. A header whose
    tabs were lost ("GPU0GPU1...GPU7mlx5_0CPU Affinity") is split by the row labels, which
    name the same devices in the same order; NIC columns without rows by their NIC# names."""
    text = header[HEADER_GPU0.search(header).start():]
    cut = min((text.find(name) for name in TRAILING_COLUMNS if name in text), default=len(text))
    devices, rest = text[:cut], text[cut:]
    trailing_names = [name for name in TRAILING_COLUMNS if name in rest]
    columns = devices.split()
    if all(re.fullmatch(r"GPU\d+|NIC\d+|[A-Za-z]+\d*_\d+|[A-Za-z]+\d+", c) for c in columns):
        return columns, trailing_names
    glued, recovered = devices.replace(" ", "").replace("\t", ""), []
    if len(glued) > 1000:  # 16 GPUs and 32 NICs glue to ~500 characters; findall below is quadratic
        raise ParseError(no, header, "the header is too long for a node's columns (at most 16 GPUs and 32 NICs)")
    for label in labels:
        if not glued.startswith(label):
            break
        recovered.append(label)
        glued = glued[len(label):]
    nics = re.findall(r"NIC\d+|[a-z]+\d*_\d+", glued)
    if "".join(nics) != glued or not recovered:
        raise ParseError(no, header, "cannot tell the header's columns apart (its tabs were "
                                     "lost and the rows do not name them): paste the output "
                                     "with its tabs, e.g. from a terminal")
    return recovered + nics, trailing_names


def check_cell(no: int, line: str, value: str, cell_pattern: re.Pattern) -> None:
    if not cell_pattern.match(value):
        raise ParseError(no, line, f"unknown cell value {value!r}")
    if value.startswith("NV"):
        count = value[2:]
        if int(count) == 0:
            raise ParseError(no, line, "NV0 cannot be: a pair without NVLink shows its PCIe "
                                       "path (PIX, PXB, PHB, NODE, SYS), not NV0")
        if int(count) > MAX_BONDED_NVLINKS:
            shown = count if len(count) <= 6 else f"{count[:3]}...({len(count)} digits)"
            raise ParseError(no, line, f"NV{shown} cannot be: no GPU has more than "
                                       f"{MAX_BONDED_NVLINKS} NVLinks")


def check_consistent(no: int, header: str, columns: list[str], cells: dict, symmetric: bool = True) -> None:
    """GPU indices without gaps, X on the diagonal, and (``symmetric``: topo -m, whose links and
    PCIe paths have no direction) the same cell both ways round."""
    gpus = [c for c in columns if gpu_index(c) is not None]
    indices = [gpu_index(c) for c in gpus]
    if indices != list(range(len(indices))):
        absent = sorted(set(range(max(indices) + 1)) - set(indices))
        raise ParseError(no, header, f"GPU indices jump ({', '.join(gpus)}): "
                                     f"{', '.join(f'GPU{i}' for i in absent) or 'order'} missing; "
                                     "nvidia-smi numbers GPUs 0, 1, 2, ... (was a column cut?)")
    for i, a in enumerate(gpus):
        if cells[a][a] != "X":
            raise ParseError(no, header, f"{a}'s own cell is {cells[a][a]!r}, not X: the rows "
                                         "and columns do not line up")
        for b in gpus[i + 1:]:
            if symmetric and cells[a][b] != cells[b][a]:
                raise ParseError(no, header, f"the matrix is not symmetric: {a}->{b} is "
                                             f"{cells[a][b]} but {b}->{a} is {cells[b][a]}")
