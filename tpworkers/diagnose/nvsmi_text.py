"""A pasted nvidia-smi text made readable, line by line, for every reader of it (nvsmi_parse,
nvsmi_matrix, nvsmi_nvlink): colour escapes gone, also when the copy lost the ESC byte and left
"[4m" / "[0m" behind; the echoed command (`$ nvidia-smi ...`) and an environment check's
heading with the versions above it dropped; elision lines ("...", "[snip]") told apart."""
from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\[[0-9;]*m(?=\S|$)|(?<=\S)\[[0-9;]*m")
_ELISION = re.compile(r"^(\.{2,}|…|\[?snip\]?|\[\.\.\.\])$", re.IGNORECASE)


def numbered_lines(text: str) -> list[tuple[int, str]]:
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


def is_elision(line: str) -> bool:
    return bool(_ELISION.match(line.strip()))
