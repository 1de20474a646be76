"""Plain-text tables and number formatting for bench and demo output."""
from __future__ import annotations

from typing import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[str] = ()) -> str:
    """Aligned text table; columns named in ``right`` are right-aligned (numbers)."""
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]

    def line(cells):
        out = []
        for cell, header, width in zip(cells, headers, widths):
            cell = str(cell)
            out.append(cell.rjust(width) if header in right else cell.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in rows])


def fmt_ms(seconds: float | None) -> str:
    """Milliseconds with three significant digits, '-' when absent."""
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3g}"


def fmt_rate(value: float | None) -> str:
    """A GB/s or GFLOP/s figure, '-' when absent."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def fmt_shape(shape: Sequence[int]) -> str:
    """[8,64,112,112]"""
    return "[" + ",".join(str(int(s)) for s in shape) + "]"


def shorten(text: str, width: int = 60) -> str:
    """First line of ``text``, cut to ``width`` characters."""
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return text if len(text) <= width else text[: width - 3] + "..."
