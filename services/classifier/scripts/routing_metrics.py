"""RouteLLM-style routing metrics (APGR, CPT) and small ranking helpers (numpy only)."""

from __future__ import annotations

import numpy as np


def quality_curve(
    score: np.ndarray, strong: np.ndarray, weak: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(share of strong calls, mean quality) when the top-k prompts by ``score`` go strong.

    Ties in ``score`` are broken by input order (stable sort), so a constant score is the
    same as routing an arbitrary fixed subset.
    """
    order = np.argsort(-score, kind="stable")
    gain = (strong - weak)[order]
    n = len(score)
    quality = (weak.sum() + np.concatenate([[0.0], np.cumsum(gain)])) / n
    share = np.arange(n + 1) / n
    return share, quality


def pgr_curve(
    score: np.ndarray, strong: np.ndarray, weak: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    share, quality = quality_curve(score, strong, weak)
    gap = strong.mean() - weak.mean()
    if gap <= 0:
        raise ValueError("the strong model is not better than the weak one on this set")
    return share, (quality - weak.mean()) / gap


def apgr(score: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> float:
    """Area under the performance-gap-recovered curve over the share of strong calls."""
    share, pgr = pgr_curve(score, strong, weak)
    return float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(share)))


def cpt(score: np.ndarray, strong: np.ndarray, weak: np.ndarray, target: float = 0.5) -> float:
    """Smallest share of strong calls that recovers ``target`` of the quality gap."""
    share, pgr = pgr_curve(score, strong, weak)
    hit = np.nonzero(pgr >= target - 1e-12)[0]
    return float(share[hit[0]]) if len(hit) else 1.0


def random_apgr(
    strong: np.ndarray, weak: np.ndarray, trials: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Mean APGR and CPT(50%) of random routers (expected APGR is 0.5)."""
    rng = np.random.default_rng(seed)
    a, c = [], []
    for _ in range(trials):
        s = rng.random(len(strong))
        a.append(apgr(s, strong, weak))
        c.append(cpt(s, strong, weak))
    return float(np.mean(a)), float(np.mean(c))


def oracle_score(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    return strong - weak


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC with ties counted half (Mann-Whitney U)."""
    pos = score[positive.astype(bool)]
    neg = score[~positive.astype(bool)]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = _rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _rankdata(a), _rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _rankdata(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
