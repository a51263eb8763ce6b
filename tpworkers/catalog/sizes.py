"""Message sizes written the way nccl-tests writes them.

`all_reduce_perf -b 1K -e 64M -f 4` means: start at 1 KiB, multiply by 4 until 64 MiB.
Suffixes are binary (K = 2**10, M = 2**20, G = 2**30), as in nccl-tests' `parsesize`.
"""

_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """'1K' -> 1024, '64M' -> 67108864, '4096' -> 4096. Raises ValueError on anything else."""
    cleaned = text.strip().upper().removesuffix("B")
    if not cleaned:
        raise ValueError(f"empty size {text!r}")
    multiplier = _UNITS.get(cleaned[-1], 1)
    digits = cleaned[:-1] if cleaned[-1] in _UNITS else cleaned
    if not digits.isdigit():
        raise ValueError(f"size {text!r} is not a whole number with an optional K/M/G suffix")
    return int(digits) * multiplier


def format_size(num_bytes: int) -> str:
    """Inverse of parse_size: the largest suffix that divides exactly (1024 -> '1K', 1000 -> '1000')."""
    for suffix in ("G", "M", "K"):
        unit = _UNITS[suffix]
        if num_bytes and num_bytes % unit == 0:
            return f"{num_bytes // unit}{suffix}"
    return str(num_bytes)


def sweep_sizes(min_bytes: int, max_bytes: int, factor: int) -> list[int]:
    """min, min·f, min·f², ... up to and including max (nccl-tests -b/-e/-f)."""
    if min_bytes < 1 or max_bytes < min_bytes or factor < 2:
        raise ValueError(f"need 1 <= min <= max and factor >= 2, got {min_bytes}, {max_bytes}, {factor}")
    sizes = []
    size = min_bytes
    while size <= max_bytes:
        sizes.append(size)
        size *= factor
    return sizes


_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def binary_size(num_bytes) -> str:
    """1024 -> '1 KiB', 1536 -> '1.5 KiB', 64 MiB -> '64 MiB'."""
    if num_bytes in (None, ""):
        return "—"
    value = float(num_bytes)
    for unit in _BINARY_UNITS:
        if value < 1024 or unit == _BINARY_UNITS[-1]:
            return f"{value:g} {unit}"
        value /= 1024
    return f"{value:g}"
