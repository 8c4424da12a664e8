"""A QR code as text, two modules per character cell (half blocks), for a customer at the counter.

Light modules are drawn as blocks and dark ones as the terminal's (dark) background, so the code
keeps the standard's polarity — dark on light, with a light quiet zone — on a dark terminal.
"""

from __future__ import annotations

import segno

__all__ = ["qr_text"]

_HALF = {
    (False, False): "█",  # both light
    (True, False): "▄",  # top dark, bottom light
    (False, True): "▀",  # top light, bottom dark
    (True, True): " ",  # both dark
}


def qr_text(data: str, *, border: int = 2) -> str:
    """Lines of half-block characters; a 29×29 code (version 3) is 33 columns by 17 rows."""
    code = segno.make_qr(data, error="l", boost_error=False)
    rows = [[bool(bit) for bit in row] for row in code.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        lines.append("".join(_HALF[(t, b)] for t, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)
