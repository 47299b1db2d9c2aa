# ruff: noqa: E501  (report strings read better unwrapped)
"""Calibrating the domain-similarity threshold on banking77 (build step, no torch).

Six customer domains are groups of banking77 intents, each described by one sentence
(``router_data.BANKING_DOMAINS``); 22 held-out intents are near out-of-domain traffic and
the project's labelled prompts plus LLMRouter test questions are far out-of-domain. The
threshold maximises F1 of correct routing on banking77 train; everything is reported on
banking77 test. ``embed`` is whatever produces the embeddings the router will compare at
run time (the fp32 encoder for training, the served graph of a given precision for
``calibrate_precisions.py``), so each precision gets the threshold of its own cosines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import router_data as rd
from routing_metrics import roc_auc

Embed = Callable[[list[str]], np.ndarray]


def far_ood_texts(
    labelled: Sequence[rd.SchemaRecord], outcomes: Sequence[rd.OutcomeRecord]
) -> list[str]:
    """Far out-of-domain prompts: labelled prompts and LLMRouter test questions."""
    return [r.text for r in labelled] + [
        r.text for r in outcomes if r.split == "test" and r.source == "llmrouter"
    ]


def calibrate_domains(
    bank: dict[str, list[tuple[str, str]]], embed: Embed, far_ood: list[str]
) -> dict[str, object]:
    """Pick the cosine threshold on banking77 train, report it on banking77 test."""
    intent_domain = {i: d for d, (_, intents) in rd.BANKING_DOMAINS.items() for i in intents}
    all_intents = set(intent_domain) | set(rd.BANKING_HELD_OUT)
    cats = {c for rows in bank.values() for _, c in rows}
    if cats != all_intents:
        raise SystemExit(
            f"banking77 intents not covered by the domain groups: {sorted(cats ^ all_intents)}"
        )
    names = list(rd.BANKING_DOMAINS)
    dom = embed([rd.BANKING_DOMAINS[n][0] for n in names])
    far = embed(far_ood)

    def evaluate(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        texts = [t for t, _ in bank[split]]
        truth = np.array(
            [names.index(intent_domain[c]) if c in intent_domain else -1 for _, c in bank[split]]
        )
        emb = embed(texts)
        sims = emb @ dom.T
        far_sims = far @ dom.T
        return sims.max(1), sims.argmax(1), truth, far_sims.max(1)

    def route_metrics(
        best: np.ndarray, arg: np.ndarray, truth: np.ndarray, far_best: np.ndarray, t: float
    ) -> dict[str, float]:
        routed = best >= t
        correct = routed & (arg == truth)
        n_routed = routed.sum() + (far_best >= t).sum()
        precision = correct.sum() / n_routed if n_routed else 1.0
        recall = correct.sum() / (truth >= 0).sum()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "threshold": round(float(t), 3),
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "routed_share_in_domain": round(float(routed[truth >= 0].mean()), 4),
            "routed_share_near_ood": round(float(routed[truth < 0].mean()), 4),
            "routed_share_far_ood": round(float((far_best >= t).mean()), 4),
        }

    tr = evaluate("train")
    grid = np.round(np.arange(0.10, 0.90, 0.01), 2)
    f1s = [route_metrics(*tr, t)["f1"] for t in grid]
    threshold = float(grid[int(np.argmax(f1s))])
    te = evaluate("test")
    best, arg, truth, far_best = te
    ind = truth >= 0
    return {
        "threshold": threshold,
        "criterion": "maximise F1 of correct routing on banking77 train (in-domain utterance routed to its own domain = true positive; any routed out-of-domain utterance = false positive); reported on banking77 test",
        "domains": {
            n: {"description": rd.BANKING_DOMAINS[n][0], "intents": rd.BANKING_DOMAINS[n][1]}
            for n in names
        },
        "held_out_intents": rd.BANKING_HELD_OUT,
        "far_ood": f"{len(far_ood)} non-banking prompts (labelled prompts + LLMRouter test questions)",
        "test": {
            "n_in_domain": int(ind.sum()),
            "n_near_ood": int((~ind).sum()),
            "n_far_ood": len(far_ood),
            "roc_auc_near_ood": round(roc_auc(best, ind), 4),
            "roc_auc_far_ood": round(
                roc_auc(
                    np.concatenate([best[ind], far_best]),
                    np.r_[np.ones(ind.sum()), np.zeros(len(far_best))],
                ),
                4,
            ),
            "top1_domain_accuracy_in_domain": round(float((arg[ind] == truth[ind]).mean()), 4),
            "at_calibrated": route_metrics(*te, threshold),
            "at_0.7": route_metrics(*te, 0.7),
            "cosine_in_domain_median": round(float(np.median(best[ind])), 4),
            "cosine_near_ood_median": round(float(np.median(best[~ind])), 4),
            "cosine_far_ood_median": round(float(np.median(far_best)), 4),
        },
    }
