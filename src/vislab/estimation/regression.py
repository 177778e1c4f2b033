"""Regressions whose outcome or covariates are model-coded classes, corrected with the coded
sample the same way as a prevalence.

A formula's variables are classes (the model's 0/1 label on every image, the people's code on
the coded ones) or columns of the predictions (metadata, known for every image). With `m(b)` the
estimating function of the regression (`x (y - mu(x'b))`; `mu` the identity for a linear one,
the logistic function for a logistic one), the three estimates solve:

    naive:      sum_all m_model(b) = 0                       (the model's labels as the truth)
    coded_only: sum_coded w m_coded(b) = 0                   (the weighted coded images)
    corrected:  sum_all m_model(b) + sum_coded w (m_coded(b) - m_model(b)) = 0

with `w = N_h / n_h` the inverse inclusion probability of each coded image. The estimand is the
regression one would fit if every image of the collection were coded; its sandwich variance is
`A^-1 C A^-1`, `A` the derivative of the estimating equation and `C` the stratified sampling
covariance of the coded images' terms (with the finite-population factor, and, in a stratum
where the sample shows less spread than half an error would make, that of half an error), as
for a prevalence: an intercept-only regression gives the corrected prevalence and its interval.

On a simple random sample the corrected estimate is the pseudo-outcome regression of design-
based supervised learning, and prediction-powered inference (lambda = 1) in its M-estimation
form, which ppi-python's `ppi_logistic_pointestimate` solves; its `ppi_ols_pointestimate` fits
the correction on the coded images' own covariates instead, which is the same where the coded
images' covariate moments are the collection's. The naive interval is the usual
heteroskedasticity-robust one (HC0), as a researcher would compute it from the model's labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from vislab.errors import InputError
from vislab.estimation.strata import Strata

LINEAR, LOGISTIC = "linear", "logistic"
KINDS = (LINEAR, LOGISTIC)


@dataclass
class Part:
    """One sum of an estimating equation: rows `x`, outcomes `y`, a weight per row."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray | float


@dataclass
class Matrices:
    """The formula's design matrices: over the collection with the model's labels, and over the
    coded images with the model's labels and with the codes."""

    names: list[str]
    x_model: np.ndarray
    y_model: np.ndarray
    x_model_coded: np.ndarray
    y_model_coded: np.ndarray
    x_coded: np.ndarray
    y_coded: np.ndarray


def mean_function(kind: str, eta: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return eta if kind == LINEAR else expit(eta)


def terms(part: Part, beta: np.ndarray, kind: str) -> np.ndarray:
    """Per row its estimating-function term x (y - mu(x'b)) (unweighted)."""
    return part.x * (part.y - mean_function(kind, part.x @ beta))[:, None]


def slope(parts: list[Part], beta: np.ndarray, kind: str) -> np.ndarray:
    """A = minus the derivative of the estimating equation: sum w x x' mu'(x'b)."""
    total = 0.0
    for part in parts:
        mu = mean_function(kind, part.x @ beta)
        spread = np.ones_like(mu) if kind == LINEAR else mu * (1 - mu)
        total = total + (part.x * (part.weight * spread)[:, None]).T @ part.x
    return total


def gradient(parts: list[Part], beta: np.ndarray, kind: str) -> np.ndarray:
    """The estimating equation at `beta`: sum_parts sum w m(b)."""
    return sum(terms(p, beta, kind).T @ np.broadcast_to(p.weight, len(p.y)) for p in parts)


def solve(parts: list[Part], kind: str, size: int) -> np.ndarray:
    """Newton's method on the estimating equation, each step halved until it brings the
    equation closer to zero (one step is exact for a linear regression)."""
    beta = np.zeros(parts[0].x.shape[1])
    now = gradient(parts, beta, kind)
    for _ in range(100):
        try:
            step = np.linalg.solve(slope(parts, beta, kind), now)
        except np.linalg.LinAlgError:
            raise _singular() from None
        if kind == LINEAR:
            return beta + step
        for _ in range(30):
            after = gradient(parts, beta + step, kind)
            if np.linalg.norm(after) <= np.linalg.norm(now):
                break
            step = step / 2
        beta, now = beta + step, after
        if np.abs(step).max() < 1e-10 * max(1.0, np.abs(beta).max()):
            return beta
    raise InputError(
        "the logistic regression did not converge in 100 steps: a covariate separates the "
        f"outcome perfectly among the {size} images (drop it, or use --regression linear)."
    )


def _singular() -> InputError:
    return InputError(
        "the formula's covariates are collinear (or a level has no image): drop or merge terms."
    )


def entries(beta, variance, names, confidence: float) -> dict:
    """Per coefficient: value, interval, standard error and two-sided p-value (of zero)."""
    se = np.sqrt(np.clip(np.diag(variance), 0, None))
    half = norm.ppf(0.5 + confidence / 2) * se
    found = {}
    for name, b, s, h in zip(names, beta, se, half, strict=True):
        p = float(2 * norm.sf(abs(b) / s)) if s > 0 else None
        found[name] = {
            "value": float(b),
            "ci": [float(b - h), float(b + h)],
            "se": float(s),
            "p_value": p,
        }
    return found


def sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    inverse = np.linalg.inv(bread)
    return inverse @ meat @ inverse.T


def corrected(m: Matrices, strata: Strata, kind: str, weights: np.ndarray):
    """The corrected fit with power tuning (PPI++): the model's part weighted by the lambda
    that makes the coefficients' total variance smallest (found at lambda = 1, as ppi-python
    does), in [0, 1]; lambda 1 where whole clusters were drawn (`Strata.tunes`). Returns
    (coefficients, their covariance, lambda)."""
    coded = Part(m.x_coded, m.y_coded, weights)

    def parts(lam: float) -> list[Part]:
        model = Part(m.x_model, m.y_model, np.full(len(m.y_model), lam))
        return [model, coded, Part(m.x_model_coded, m.y_model_coded, -lam * weights)]

    beta = solve(parts(1.0), kind, len(m.y_model))
    lam = _tuned(m, strata, kind, beta, slope(parts(1.0), beta, kind)) if strata.tunes else 1.0
    beta = solve(parts(lam), kind, len(m.y_model))
    model_coded = Part(m.x_model_coded, m.y_model_coded, weights)
    gap = terms(coded, beta, kind) - lam * terms(model_coded, beta, kind)
    meat = strata.covariance(gap, m.x_coded)
    return beta, sandwich(slope(parts(lam), beta, kind), meat), lam


def _tuned(m: Matrices, strata: Strata, kind: str, beta, bread) -> float:
    """lambda = tr(A^-1 (C_yf + C_fy) A^-T) / (2 tr(A^-1 C_ff A^-T)), with C the design
    covariance of the coded images' estimating terms from codes (y) and labels (f)."""
    size = len(beta)
    each = np.hstack(
        [
            terms(Part(m.x_coded, m.y_coded, 1.0), beta, kind),
            terms(Part(m.x_model_coded, m.y_model_coded, 1.0), beta, kind),
        ]
    )
    c = strata.covariance(each)
    inverse = np.linalg.inv(bread)
    cross, labels = c[:size, size:], c[size:, size:]
    denominator = np.trace(inverse @ labels @ inverse.T)
    if not denominator > 1e-12 * max(np.trace(inverse @ c[:size, :size] @ inverse.T), 1e-300):
        return 1.0
    numerator = np.trace(inverse @ (cross + cross.T) @ inverse.T) / 2
    return float(np.clip(numerator / denominator, 0.0, 1.0))


def naive(m: Matrices, kind: str):
    model = Part(m.x_model, m.y_model, np.ones(len(m.y_model)))
    beta = solve([model], kind, len(m.y_model))
    each = terms(model, beta, kind)
    return beta, sandwich(slope([model], beta, kind), each.T @ each)


def coded_only(m: Matrices, strata: Strata, kind: str, weights: np.ndarray, floor: bool = True):
    """The weighted regression of the coded images (`floor`: a stratum's spread at least half
    an error's, see `Strata.covariance`)."""
    coded = Part(m.x_coded, m.y_coded, weights)
    beta = solve([coded], kind, len(m.y_coded))
    meat = strata.covariance(terms(coded, beta, kind), m.x_coded if floor else None)
    return beta, sandwich(slope([coded], beta, kind), meat)


def fit_all(m: Matrices, strata: Strata, kind: str, confidence: float) -> dict:
    """The coefficients' corrected, naive and coded_only estimates, by coefficient name."""
    weights = strata.weights()
    beta, variance, lam = corrected(m, strata, kind, weights)
    found = {
        "corrected": (beta, variance),
        "naive": naive(m, kind),
        "coded_only": coded_only(m, strata, kind, weights),
    }
    tables = {how: entries(b, v, m.names, confidence) for how, (b, v) in found.items()}
    for entry in tables["corrected"].values():
        entry["lambda"] = lam
    return {name: {how: tables[how][name] for how in found} for name in m.names}
