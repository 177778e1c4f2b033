"""Numbers as a reader should see them: p-values by the resolution of the test behind them."""

from __future__ import annotations


def p_text(p: float | None, resamples: int | None = None) -> str:
    """A p-value as its resolution allows: `p < 0.0001` for an analytic test, `p ≤ 0.002` at the
    floor of a bootstrap's resamples (2 / (resamples + 1)), else two significant digits."""
    if p is None or p != p:
        return "p = n/a"
    if resamples:
        floor = 2 / (resamples + 1)
        return f"p ≤ {floor:.2g}" if p <= floor * (1 + 1e-9) else f"p = {p:.2g}"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"
