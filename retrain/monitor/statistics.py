"""The statistics the monitor uses, written out (no SciPy in the app).

- ``poisson_rate_test``: one-sided exact conditional test for two Poisson rates
  (Przyborowski & Wilenski, 1940). Word errors per reviewed word are counts over an
  exposure (errors can exceed words: insertions), so the rates are compared as Poisson
  rates: given the total ``x1 + x2`` errors, under H0 (rate1 <= rate2) ``x1`` is
  Binomial(``x1 + x2``, ``n1 / (n1 + n2)``); the p-value is its upper tail.
- ``ks_2samp``: two-sample Kolmogorov-Smirnov statistic with the asymptotic p-value
  and Stephens' small-sample correction, ``Q_KS((sqrt(Ne) + 0.12 + 0.11/sqrt(Ne)) D)``
  (Numerical Recipes, 3rd ed., 14.3.3); callers require a minimum sample size.
- ``pearson``: Pearson correlation coefficient.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def poisson_rate_test(x1: int, n1: float, x2: int, n2: float) -> float:
    """One-sided p-value that rate ``x1/n1`` is greater than rate ``x2/n2``."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    return binomial_upper_tail(x1, x1 + x2, n1 / (n1 + n2))


def _kolmogorov_q(lam: float) -> float:
    """Q_KS(lambda) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2)."""
    if lam < 1e-3:
        return 1.0
    total, sign = 0.0, 1.0
    for j in range(1, 101):
        term = sign * math.exp(-2.0 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
        sign = -sign
    return max(0.0, min(1.0, 2.0 * total))


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """sup |F_a(x) - F_b(x)| over the pooled sample."""
    xs, ys = sorted(a), sorted(b)
    n, m = len(xs), len(ys)
    return max(abs(bisect_right(xs, v) / n - bisect_right(ys, v) / m) for v in set(xs) | set(ys))


def ks_2samp(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(D, p) of the two-sample Kolmogorov-Smirnov test (two-sided)."""
    if not a or not b:
        raise ValueError("both samples need at least one value")
    d = ks_statistic(a, b)
    ne = len(a) * len(b) / (len(a) + len(b))
    root = math.sqrt(ne)
    return d, _kolmogorov_q((root + 0.12 + 0.11 / root) * d)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or ``None`` when fewer than 2 pairs or a side has no variance."""
    if len(xs) != len(ys) or len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
