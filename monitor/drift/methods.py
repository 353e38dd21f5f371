"""The drift tests, as Evidently 0.7 computes them (evidently.legacy.calculations
.stattests), on counts and samples instead of raw columns: chi-squared, the
two-proportion Z-test, Jensen-Shannon and PSI take aligned counts per key;
KS and normalised Wasserstein take samples. Each returns (score, drifted);
the comparison with the threshold is Evidently's own (KS: p <= threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

KS, WASSERSTEIN = "ks", "wasserstein"
CHISQUARE, Z, JENSENSHANNON, PSI = "chisquare", "z", "jensenshannon", "psi"
METHODS = (KS, WASSERSTEIN, CHISQUARE, Z, JENSENSHANNON, PSI)
P_VALUE_METHODS = (KS, CHISQUARE, Z)  # the others give a distance
SAMPLE_METHODS = (KS, WASSERSTEIN)
NUMERIC_ONLY = (KS, WASSERSTEIN)
SMALL_REFERENCE = 1_000  # Evidently: at most this many reference rows -> tests
FEW_VALUES = 5  # Evidently: numeric with at most this many values -> by counts
MAX_EXACT_KS = 10_000  # scipy's ks_2samp(method="auto") is exact up to this


@dataclass(frozen=True)
class Outcome:
    score: float  # the p-value or the distance
    drifted: bool
    statistic: float | None = None  # KS D, chi-squared, Z (p-value methods)


def default_threshold(method: str, p_value: float, distance_: float) -> float:
    return p_value if method in P_VALUE_METHODS else distance_


def default_method(kind: str, reference_rows: int, distinct: int) -> str:
    """Evidently's choice (registry._get_default_stattest): `reference_rows`
    present in the reference, `distinct` values in reference and current."""
    small = reference_rows <= SMALL_REFERENCE
    if kind == "numeric" and distinct > FEW_VALUES:
        return KS if small else WASSERSTEIN
    if small:
        return CHISQUARE if distinct > 2 else Z
    return JENSENSHANNON


def ks_cells(
    points: np.ndarray,
    weights: np.ndarray,
    cells: np.ndarray,
    threshold: float,
) -> Outcome:
    """Two-sample KS of the reference (distinct values `points`, each
    `weights` times) against a current set known by its `cells` counts:
    cell 2i holds the values strictly between points i-1 and i, cell 2i+1
    the values equal to point i. The statistic only looks at the
    two distribution functions at these points, so it is scipy's exactly; up
    to 10,000 current values scipy computes it on values with these counts,
    beyond that its own asymptotic p-value (scipy's method="auto")."""
    n1, n2 = int(weights.sum()), int(cells.sum())
    if n2 <= MAX_EXACT_KS:
        stand_ins = _stand_ins(points)
        result = stats.ks_2samp(np.repeat(points, weights), np.repeat(stand_ins, cells))
        p_value = float(result.pvalue)
        return Outcome(p_value, p_value <= threshold, float(result.statistic))
    f_reference = np.cumsum(weights) / n1
    through = np.cumsum(cells) / n2
    at_points = np.abs(f_reference - through[1::2])
    before = np.concatenate([[0.0], f_reference[:-1]])
    between = np.abs(before - through[0::2][:-1])[cells[0::2][:-1] > 0]
    statistic = float(max(at_points.max(), between.max(initial=0.0)))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    p_value = float(np.clip(stats.kstwo.sf(statistic, np.round(m * n / (m + n))), 0, 1))
    return Outcome(p_value, p_value <= threshold, statistic)


def _stand_ins(points: np.ndarray) -> np.ndarray:
    """One value per cell: the point itself, or one strictly between."""
    stand_ins = np.empty(2 * len(points) + 1)
    stand_ins[1::2] = points
    stand_ins[0] = points[0] - 1.0
    stand_ins[-1] = points[-1] + 1.0
    stand_ins[2:-1:2] = np.nextafter(points[:-1], points[1:])
    return stand_ins


def wasserstein(
    reference: np.ndarray, current: np.ndarray, threshold: float, *, std: float
) -> Outcome:
    """Normalised by the reference's std (floored at 0.001, as Evidently)."""
    value = float(stats.wasserstein_distance(reference, current)) / max(std, 0.001)
    return Outcome(value, value >= threshold)


def wasserstein_cells(
    points: np.ndarray,
    weights: np.ndarray,
    cells: np.ndarray,
    beyond: tuple[float, float],
    threshold: float,
    *,
    std: float,
) -> Outcome:
    """Normalised Wasserstein of a current set too large for its sample, from
    its KS cells (ks_cells): the area between the two distribution functions,
    the current's linear between neighbouring reference values, exact beyond
    them (`beyond`: the summed distances of the values below the first point
    and above the last). Within 0.002 of the whole data's (tests)."""
    # Python ints: numpy's would make the score a numpy float and the flag a
    # numpy bool, which the run's JSON report cannot store.
    n1, n2 = int(weights.sum()), int(cells.sum())
    f_reference = np.cumsum(weights) / n1
    through = np.cumsum(cells) / n2
    level = f_reference[:-1]  # the reference's between points i-1 and i
    a, b = level - through[1:-2:2], level - through[2:-1:2]
    with np.errstate(divide="ignore", invalid="ignore"):
        area = np.where(
            a * b >= 0,
            (np.abs(a) + np.abs(b)) / 2,
            (a * a + b * b) / (2 * (np.abs(a) + np.abs(b))),  # the sign changes
        )
    value = float(np.nansum(area * np.diff(points))) + sum(beyond) / n2
    value /= max(std, 0.001)
    return Outcome(value, value >= threshold)


def chisquare(reference: np.ndarray, current: np.ndarray, threshold: float) -> Outcome:
    reference, current = _floats(reference, current)
    expected = reference * (current.sum() / reference.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        # Keys the reference never had expect 0: scipy says inf, p = 0.
        if (expected == 0).any() and (current[expected == 0] > 0).any():
            statistic, p_value = float("inf"), 0.0
        else:
            keep = expected > 0
            result = stats.chisquare(current[keep], expected[keep])
            statistic, p_value = float(result.statistic), float(result.pvalue)
    return Outcome(p_value, p_value < threshold, statistic)


def z(reference: np.ndarray, current: np.ndarray, threshold: float) -> Outcome:
    """Two-proportion Z-test on the share of rows not in the first key
    (Evidently sorts the keys; the caller passes them sorted)."""
    reference, current = _floats(reference, current)
    if len(reference) == 1:  # one and the same value on both sides: no test
        return Outcome(1.0, False, 0.0)
    n1, n2 = reference.sum(), current.sum()
    p1, p2 = (n1 - reference[0]) / n1, (n2 - current[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = float(2 * (1 - stats.norm.cdf(np.abs(statistic))))
    return Outcome(p_value, p_value < threshold, float(statistic))


def jensenshannon(
    reference: np.ndarray, current: np.ndarray, threshold: float
) -> Outcome:
    reference, current = _floats(reference, current)
    value = float(
        distance.jensenshannon(reference / reference.sum(), current / current.sum())
    )
    return Outcome(value, value >= threshold)


def psi(reference: np.ndarray, current: np.ndarray, threshold: float) -> Outcome:
    reference, current = _floats(reference, current)
    expected = _fill_zeros(reference / reference.sum())
    actual = _fill_zeros(current / current.sum())
    value = float(np.sum((expected - actual) * np.log(expected / actual)))
    return Outcome(value, value >= threshold)


def _fill_zeros(shares: np.ndarray) -> np.ndarray:
    """Evidently's get_binned_data(feel_zeroes=True): empty bins get 0.0001,
    or a millionth of the smallest share when that is smaller still."""
    smallest = shares[shares != 0].min()
    fill = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, fill, shares)


def _floats(reference, current) -> tuple[np.ndarray, np.ndarray]:
    """As floats, without the keys neither side has (Evidently's keys are the
    values present in either)."""
    reference = np.asarray(reference, dtype="float64")
    current = np.asarray(current, dtype="float64")
    seen = (reference > 0) | (current > 0)
    return reference[seen], current[seen]


COUNT_METHODS = {CHISQUARE: chisquare, Z: z, JENSENSHANNON: jensenshannon, PSI: psi}
