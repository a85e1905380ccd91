"""The safety model's loss on partial labels and the calibration of its probabilities.

A corpus that only says "not hate" (ETHOS below its threshold) labels an item with the *set*
``{offensive, neither}``: the loss asks the model to put its probability anywhere in the set,
``-log Σ_{c ∈ allowed} p(c | x)`` (the partial-label likelihood; for a single category it is the
usual cross-entropy). Evaluation of such a corpus is hate against the rest.

Prevalence estimation (:mod:`content_signals.models.prevalence`) needs *calibrated* posteriors, and
the head's averaged log-probabilities are not: each part leans towards what it saw most, and
class weights in training move them further. A temperature and a per-class bias on the head's
output, fitted by that same likelihood on the validation split (everything else frozen), restore
it; the expected calibration error before and after goes on the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from content_signals.models.evaluation import calibration

# The temperature is kept within these bounds (a fitted value at a bound says the fit failed).
TEMPERATURE_BOUNDS = (0.05, 20.0)


def partial_label_nll(
    logits: torch.Tensor, allowed: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean (``weights``-weighted) of ``-log Σ_{allowed} softmax(logits)``: items x classes logits,
    items x classes boolean ``allowed`` (at least one True per row)."""
    log_p = torch.log_softmax(logits.float(), dim=1)
    per_item = -torch.logsumexp(log_p.masked_fill(~allowed, float("-inf")), dim=1)
    if weights is None:
        return per_item.mean()
    return (per_item * weights).sum() / weights.sum()


def partial_label_nll_numpy(probabilities: np.ndarray, allowed: np.ndarray) -> float:
    """The same loss on probabilities (for reports)."""
    mass = (np.asarray(probabilities) * np.asarray(allowed, dtype=bool)).sum(axis=1)
    return float(-np.log(np.clip(mass, 1e-12, None)).mean())


@dataclass(frozen=True)
class Calibration:
    temperature: float
    bias: np.ndarray

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the uncalibrated output (log-probabilities up to a constant)."""
        scaled = np.asarray(logits, dtype=np.float64) / self.temperature + self.bias[None, :]
        scaled -= scaled.max(axis=1, keepdims=True)
        exp = np.exp(scaled)
        return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def fit_calibration(logits: np.ndarray, allowed: np.ndarray, iterations: int = 200) -> Calibration:
    """Temperature and per-class bias minimising the partial-label NLL of ``logits`` (validation
    rows of the uncalibrated head); the first class's bias is fixed at 0 (only differences count)."""
    x = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    mask = torch.from_numpy(np.asarray(allowed, dtype=bool))
    log_temperature = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    free_bias = torch.zeros(x.shape[1] - 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_temperature, free_bias], lr=0.5, max_iter=iterations)
    low, high = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        bias = torch.cat([torch.zeros(1, dtype=torch.float64), free_bias])
        scaled = x / torch.exp(log_temperature.clamp(low, high)) + bias
        log_p = torch.log_softmax(scaled, dim=1)
        loss = -torch.logsumexp(log_p.masked_fill(~mask, float("-inf")), dim=1).mean()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    temperature = float(torch.exp(log_temperature.detach().clamp(low, high)).item())
    bias = np.concatenate([[0.0], free_bias.detach().numpy()]).astype(np.float64)
    return Calibration(temperature=temperature, bias=bias)


def softmax(logits: np.ndarray) -> np.ndarray:
    return Calibration(1.0, np.zeros(np.asarray(logits).shape[1])).apply(logits)


def calibration_report(allowed: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """NLL on every row (partial labels included) and the reliability of the top class on the rows
    with a single label, for uncalibrated and calibrated probabilities."""
    allowed = np.asarray(allowed, dtype=bool)
    single = allowed.sum(axis=1) == 1
    labels = allowed.argmax(axis=1)[single]
    report: dict[str, Any] = {"rows": len(allowed), "single_label_rows": int(single.sum())}
    for name, probabilities in (("before", before), ("after", after)):
        reliability = calibration(labels, probabilities[single]) if single.any() else {}
        report[name] = {
            "nll": partial_label_nll_numpy(probabilities, allowed),
            "ece": float(reliability.get("expected_calibration_error", float("nan"))),
            "reliability": reliability.get("reliability", []),
        }
    return report
