"""How durations and sizes read to people: shared by the CLI's tables and the web UI (a leaf module)."""

from __future__ import annotations


def duration(start_ms: int | None, end_ms: int | None, missing: str = "") -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``, ``3d 4h``; ``missing`` unless both ends are known."""
    if start_ms is None or end_ms is None or end_ms < start_ms:
        return missing
    ms = end_ms - start_ms
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def size(count: int | None, missing: str = "") -> str:
    """``512 B``, ``1.5 KB``, ``3.2 MB`` ... ``TB``; ``missing`` for None."""
    if count is None:
        return missing
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
