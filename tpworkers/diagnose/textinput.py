"""Text of a pasted or saved file, whatever encoding it was saved in: what the diagnose
command lines read before parsing (a UTF-16 file used to end in a UnicodeDecodeError)."""
from __future__ import annotations


def decode(data: bytes, name: str = "input") -> str:
    """Text of a pasted or saved file: UTF-8 (with or without a BOM), UTF-16 or UTF-32 with a
    BOM (PowerShell 5.1's `>` writes UTF-16 LE with a BOM), or UTF-16 LE without one (every
    other byte NUL). Anything else raises ValueError naming the first byte that is not UTF-8."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                       (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise ValueError(f"{name}: starts with a {codec.upper()} byte-order mark but is "
                                 f"not valid {codec.upper()} (byte {exc.start})") from None
    if len(data) >= 4 and data[1::2].count(0) > len(data) // 4:  # ASCII text in UTF-16 LE
        try:
            return data.decode("utf-16-le")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save the output as UTF-8 and try again") from None
