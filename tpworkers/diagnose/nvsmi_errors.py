"""The error every nvidia-smi text reader raises: the line, its number, and why."""
from __future__ import annotations


class ParseError(ValueError):
    def __init__(self, line_no: int, line: str, why: str):
        shown = " ".join(line.split())  # tabs and space runs collapsed, the text kept
        super().__init__(f"line {line_no}: could not read '{shown}': {why}")
        self.line_no, self.line, self.why = line_no, line, why
