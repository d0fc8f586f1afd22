"""Users' text files (`.znn`, `.cfg`, `.spec`): telling a binary file from text before parsing it.

A volume or a saved network given where a text file is expected would otherwise be split into
"lines" and reported line by line, with its raw bytes echoed to the terminal.
"""

from __future__ import annotations

_SAMPLE = 1 << 16  # the bytes looked at: enough to tell, cheap for any file
_TEXT_CONTROLS = "\t\n\r\f\v"


def binary_evidence(data: bytes) -> str | None:
    """Why `data` is not text, in a few words (None when it reads as text).

    Text has no NUL bytes and, decoded as UTF-8, few characters that are neither printable nor
    line or tab characters: a stray escape or a Latin-1 accent in a comment is still text.
    """
    sample = data[:_SAMPLE]
    if b"\x00" in sample:
        return f"a NUL byte at offset {sample.index(0)}"
    decoded = sample.decode("utf-8", errors="replace")
    odd = sum(1 for char in decoded if char == "\ufffd" or not (char.isprintable() or char in _TEXT_CONTROLS))
    if odd > max(8, len(decoded) // 100):
        return f"{odd} of its first {len(decoded)} characters are not text"
    return None
