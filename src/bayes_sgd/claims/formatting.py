"""How the claims and the claims report write numbers: one format for each kind of number."""


def percent(a: float) -> str:
    """An accuracy (a fraction) as a percentage with one decimal: ``0.913`` -> ``91.3%``."""
    return f"{100 * a:.1f}%"


def number(x: float) -> str:
    """Any other number, to three significant digits: ``0.000178``, ``533``, ``1e+03``."""
    return format(float(x), ".3g")
