"""The error every nvidia-smi text reader raises: the line, its number, and why."""
from __future__ import annotations

from tpworkers.diagnose.limits import shown


class ParseError(ValueError):
    def __init__(self, line_no: int, line: str, why: str):
        line = shown(line)  # a refused megabyte line is not echoed back whole
        super().__init__(f"line {line_no}: could not read '{' '.join(line.split())}': {why}")
        self.line_no, self.line, self.why = line_no, line, why
