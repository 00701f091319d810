"""The monitor's statistical tests against values computed independently."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from retrain.monitor.statistics import (
    _kolmogorov_q,
    binomial_upper_tail,
    ks_2samp,
    ks_statistic,
    median,
    pearson,
    poisson_rate_test,
)


def exact_upper_tail(k: int, n: int, p: Fraction) -> float:
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize(
    ("k", "n", "p"), [(0, 5, "1/2"), (3, 10, "1/3"), (10, 20, "1/2"), (17, 40, "1/5")]
)
def test_binomial_tail_matches_exact_fractions(k: int, n: int, p: str) -> None:
    assert binomial_upper_tail(k, n, float(Fraction(p))) == pytest.approx(
        exact_upper_tail(k, n, Fraction(p)), rel=1e-9
    )


def test_poisson_rate_test_is_the_conditional_binomial_tail() -> None:
    # equal exposure, equal counts: P(X >= 10 | X ~ Bin(20, 1/2))
    assert poisson_rate_test(10, 100, 10, 100) == pytest.approx(
        exact_upper_tail(10, 20, Fraction(1, 2))
    )
    # 30 errors in 100 words against 10 in 100: clearly worse
    assert poisson_rate_test(30, 100, 10, 100) == pytest.approx(
        exact_upper_tail(30, 40, Fraction(1, 2))
    )
    assert poisson_rate_test(30, 100, 10, 100) < 0.01
    # unequal exposure: 20 in 100 against 20 in 300 words
    assert poisson_rate_test(20, 100, 20, 300) == pytest.approx(
        exact_upper_tail(20, 40, Fraction(1, 4))
    )
    # the other way round: not worse
    assert poisson_rate_test(10, 100, 30, 100) > 0.99
    # insertions: more errors than words still works
    assert 0 <= poisson_rate_test(150, 100, 20, 100) < 1e-10
    assert poisson_rate_test(5, 0, 3, 10) == 1.0


def test_kolmogorov_distribution_critical_values() -> None:
    # the classic critical values of the Kolmogorov distribution
    assert _kolmogorov_q(1.358) == pytest.approx(0.05, abs=5e-4)
    assert _kolmogorov_q(1.628) == pytest.approx(0.01, abs=2e-4)
    assert _kolmogorov_q(0.0) == 1.0


def test_ks_statistic_on_small_samples() -> None:
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0
    assert ks_statistic([1, 2, 3], [4, 5, 6]) == 1
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)


def test_ks_detects_a_shift_and_not_noise() -> None:
    rng = random.Random(7)
    a = [rng.gauss(0, 1) for _ in range(200)]
    same = [rng.gauss(0, 1) for _ in range(200)]
    shifted = [rng.gauss(0.6, 1) for _ in range(200)]
    assert ks_2samp(a, same)[1] > 0.05
    d, p = ks_2samp(a, shifted)
    assert p < 0.001 and d > 0.2
    with pytest.raises(ValueError):
        ks_2samp([], [1.0])


def test_pearson_and_median() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2, 3], [1, 1, 1]) is None
    assert pearson([1], [1]) is None
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5
    assert median([]) is None
