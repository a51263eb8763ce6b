"""nvidia-smi's NVLink outputs -> topology.Node (every field reported-nvidia-smi):
- ``nvlink -s`` / ``--status``: ``GPU 0: NAME (UUID: GPU-...)`` then ``Link 0: 26.562 GB/s``
  or ``Link 4: <inactive>``.
- ``nvlink -R``: ``Link 0: Remote Device 00000000:D5:00.0: Link 0``.
- ``nvlink --capabilities`` (``-c``): ``Link 0, P2P is supported: true``: read for the GPUs it
  names; it says what links could do, not whether they are up (``nvlink -s`` says that).
Anything unreadable raises ParseError naming the line.
"""
from __future__ import annotations

import re

from tpworkers.diagnose.limits import MAX_GPUS_PER_NODE, MAX_NVLINKS_PER_GPU, NODE_SIZE_WHY
from tpworkers.diagnose.nvsmi_errors import ParseError
from tpworkers.diagnose.nvsmi_text import is_elision, numbered_lines
from tpworkers.diagnose.topology import SMI, Node, NvLinkLink, put

GPU_HEADER = re.compile(r"^GPU (\d+): (.+?)(?: \(UUID: ([^)\s]*)\))?$")  # no \s: one scan per "(UUID:"
MAX_LINK_SPEED_Bps = 1000e9  # 20x NVLink 5's 50 GB/s: a larger figure is a typo or an attack
_UUID = re.compile(r"^GPU-[0-9A-Fa-f-]+$")
CAPABILITY = re.compile(r"^Link (\d+), .+: (true|false)$")
_LINK_SPEED = re.compile(r"^Link (\d+): (?:(\d+(?:\.\d+)?) GB/s|<inactive>)$")
_LINK_REMOTE = re.compile(r"^Link (\d+): (?:Remote Device ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:"
                          r"[0-9A-Fa-f]{2}\.[0-9A-Fa-f]): Link (\d+)|<inactive>)$")
_NVML_NOTE = re.compile(r"^NVML: .*|.*(Unable to retrieve|Not Supported|not supported).*$")


def _gpu_number(no: int, line: str, digits: str) -> int:
    """A GPU N line's index, refused beyond a node (and before int() reads a 5000-digit one)."""
    if len(digits) > 2 or int(digits) >= MAX_GPUS_PER_NODE:
        raise ParseError(no, line, f"GPU {digits}: indices run from 0 to {MAX_GPUS_PER_NODE - 1}; {NODE_SIZE_WHY}")
    return int(digits)


def _parse_nvlink(text: str, link_pattern: re.Pattern, expected: str, hostname: str,
                  make_link) -> Node:
    """Walk 'GPU N: NAME (UUID: ...)' headers and their 'Link N: ...' lines. An elision line
    ("...", "....") is skipped; the GPU it cuts short is noted in node.reasons (its missing
    links are unknown, not down: see pairlinks.nvlink_states)."""
    node, gpu = Node(hostname), None
    last_no, last_line, elided = 1, "", False
    for no, line in numbered_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if is_elision(stripped):
            elided = True
            if gpu is not None:
                node.reasons.append(f"GPU {gpu.index}: {ELIDED_NOTE}")
            continue
        if m := GPU_HEADER.match(stripped):
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
    for no, line in numbered_lines(text):
        stripped = line.strip()
        if not stripped or is_elision(stripped) or CAPABILITY.match(stripped):
            continue
        if m := GPU_HEADER.match(stripped):
            gpu = node.add_gpu(_gpu_number(no, line, m.group(1)))
            put(gpu, SMI, name=m.group(2),
                uuid=m.group(3) if m.group(3) and _UUID.match(m.group(3)) else None)
        else:
            raise ParseError(no, line, "expected 'Link N, <capability>: true|false' lines of "
                                       "nvidia-smi nvlink --capabilities")
    node.reasons.append("nvlink --capabilities lists what each link supports, not whether it is "
                        "up: paste `nvidia-smi nvlink -s` for the link states")
    return node
