# ruff: noqa: E501  (data tables and report strings read better unwrapped)
"""Loading the router's training and evaluation data (build/eval time only).

Every loader records the files it read in ``FILES_READ`` so the training script can print
and store them. Paths are relative to ``--data-dir`` (default ``../shared/data`` next to
the repo root).

Label derivations for the NVIDIA-schema heads from public sets (dataset-level rules, see
``DERIVED_LABELS``) and the small-model-failure targets (``failure_records``) are defined
here and documented in ``services/classifier/data/README.md``.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
LABELLED_FILE = REPO_ROOT / "services" / "classifier" / "data" / "labelled_prompts.jsonl"
FILES_READ: list[str] = []

csv.field_size_limit(1 << 30)


def _note(path: Path) -> Path:
    name = os.path.relpath(path.resolve(), REPO_ROOT)  # e.g. ../shared/data/banking77/train.csv
    if name not in FILES_READ:
        FILES_READ.append(name)
    return path


def stable_fraction(text: str) -> float:
    """Deterministic pseudo-random number in [0, 1) from a text (for splits)."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 2**32


# --------------------------------------------------------------------------- schema labels
@dataclass(frozen=True)
class SchemaLabels:
    """Class indices per NVIDIA head (None = unknown, excluded from that head's loss)."""

    task_type: int | None
    creativity_scope: int | None  # 0 high, 1 medium, 2 none  (weights 2,1,0 / 2)
    reasoning: int | None  # 0 no, 1 yes
    contextual_knowledge: int | None  # 1 = needs context from outside the prompt
    number_of_few_shots: int | None  # 0..5
    domain_knowledge: int | None  # class 0 = 1.0, 1 = 1/3, 2 = 2/3, 3 = 0 (weights 3,1,2,0 / 3)
    constraint_ct: int | None  # 0 constrained (weight 1), 1 unconstrained


TASK_INDEX = {
    name: i
    for i, name in enumerate(
        [
            "Brainstorming",
            "Chatbot",
            "Classification",
            "Closed QA",
            "Code Generation",
            "Extraction",
            "Open QA",
            "Other",
            "Rewrite",
            "Summarization",
            "Text Generation",
            "Unknown",
        ]
    )
}
CREATIVITY_CLASS = {"high": 0, "medium": 1, "none": 2}
DOMAIN_CLASS = {1.0: 0, 0.33: 1, 0.67: 2, 0.0: 3}


def schema_labels(
    task: str,
    creativity: str,
    reasoning: int,
    contextual: int,
    few_shots: int,
    domain: float,
    constrained: int,
) -> SchemaLabels:
    return SchemaLabels(
        TASK_INDEX[task],
        CREATIVITY_CLASS[creativity],
        reasoning,
        contextual,
        min(few_shots, 5),
        DOMAIN_CLASS[round(domain, 2)],
        0 if constrained else 1,
    )


@dataclass
class SchemaRecord:
    text: str
    labels: SchemaLabels
    source: str
    group: str  # template / dataset id: held-out splits keep a group together
    split: str  # "train" or "test"


_FEW_SHOT_BLOCK = re.compile(r"\nAnswer:\s*\n?[A-E]\s*(?:\n|$)|Answer:\s*[A-E]\s*\n")


def _few_shot_count(prompt: str) -> int:
    return len(_FEW_SHOT_BLOCK.findall(prompt))


# (task, creativity, reasoning, contextual, domain, constrained) per public benchmark;
# few-shot counts are measured on each prompt.
DERIVED_LABELS: dict[str, tuple[str, str, int, int, float, int]] = {
    "arc_challenge": ("Closed QA", "none", 1, 0, 0.67, 1),
    "arc_easy": ("Closed QA", "none", 0, 0, 0.67, 1),
    "openbook_qa": ("Closed QA", "none", 0, 0, 0.67, 1),
    "commonsense_qa": ("Closed QA", "none", 1, 0, 0.0, 1),
    "winogrande": ("Closed QA", "none", 1, 0, 0.0, 1),
    "gpqa": ("Closed QA", "none", 1, 0, 1.0, 1),
    "logicgrid": ("Closed QA", "none", 1, 0, 0.0, 1),
    "cmmlu": ("Closed QA", "none", 0, 0, 0.67, 1),
    "ceval": ("Closed QA", "none", 0, 0, 0.67, 1),
    "natural_qa": ("Open QA", "none", 0, 0, 0.33, 0),
    "trivia_qa": ("Open QA", "none", 0, 0, 0.33, 0),
    "math": ("Open QA", "none", 1, 0, 0.67, 0),
    "mbpp": ("Code Generation", "none", 1, 0, 1.0, 1),
    "banking77": (
        "Chatbot",
        "none",
        0,
        1,
        0.33,
        0,
    ),  # needs the customer's account: context outside the prompt
}


# ------------------------------------------------------------------------- failure records
@dataclass
class OutcomeRecord:
    """One prompt with per-model quality scores (0..1) from a routing dataset."""

    text: str
    source: str  # routerbench / routerdc7 / llmrouter
    benchmark: str
    split: str
    scores: dict[str, float] = field(default_factory=dict)


ROUTERBENCH_SMALL = (
    "mistralai/mixtral-8x7b-chat",
    "meta/llama-2-70b-chat",
    "mistralai/mistral-7b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
    "meta/code-llama-instruct-34b-chat",
)
ROUTERBENCH_MODELS = (
    *ROUTERBENCH_SMALL,
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v1",
    "claude-v2",
    "claude-instant-v1",
)
LLMROUTER_SMALL = (
    "qwen2.5-7b-instruct",
    "codegemma-7b",
    "gemma-2-9b-it",
    "llama-3.1-8b-instruct",
    "llama3-chatqa-1.5-8b",
    "mistral-7b-instruct-v0.3",
)
ROUTERBENCH_FILES = {"arc_challenge": "arc_challenge", "mbpp": "mbpp", "winograde": "winogrande"}
LLMROUTER_TASKS = {
    "agentverse-logicgrid": "logicgrid",
    "agentverse-mgsm": "math",
    "commongen": "commongen",
    "natural_qa": "natural_qa",
    "trivia_qa": "trivia_qa",
    "gpqa": "gpqa",
    "mbpp": "mbpp",
    "commonsense_qa": "commonsense_qa",
    "openbook_qa": "openbook_qa",
    "arc_challenge": "arc_challenge",
    "math": "math",
}
ROUTERDC7_FILES = {
    "arc_challenge_train": ("arc_challenge", "train"),
    "arc_challenge_test": ("arc_challenge", "test"),
    "arc_easy_train": ("arc_easy", "train"),
    "arc_easy_test": ("arc_easy", "test"),
    "cmmlu_train": ("cmmlu", "train"),
    "cmmlu_test": ("cmmlu", "test"),
    "MATH_prealgebra": ("math", None),
    "ceval": ("ceval", None),
    "mbpp": ("mbpp", None),
}
# routerdc7/javascript.json is HumanEval-X (HumanEval translated to JavaScript); HumanEval is
# one of the held-out evaluation benchmarks, so it is deliberately not read.


def load_routerbench(data_dir: Path) -> list[OutcomeRecord]:
    out: list[OutcomeRecord] = []
    for stem, bench in ROUTERBENCH_FILES.items():
        for split in ("train", "test"):
            path = _note(data_dir / "routerbench" / f"{stem}_{split}.csv")
            with path.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    try:
                        parts = ast.literal_eval(row["prompt"])
                        text = "\n\n".join(parts) if isinstance(parts, list) else str(parts)
                    except (ValueError, SyntaxError):
                        text = row["prompt"]
                    scores = {m: float(row[m]) for m in ROUTERBENCH_MODELS if row.get(m, "") != ""}
                    costs = {
                        f"{m}|cost": float(row[f"{m}|total_cost"])
                        for m in ROUTERBENCH_MODELS
                        if row.get(f"{m}|total_cost", "") != ""
                    }
                    out.append(
                        OutcomeRecord(text, "routerbench", bench, split, {**scores, **costs})
                    )
    return out


def load_routerdc7(data_dir: Path) -> list[OutcomeRecord]:
    out: list[OutcomeRecord] = []
    for stem, (bench, split) in ROUTERDC7_FILES.items():
        path = _note(data_dir / "routerdc7" / f"{stem}.json")
        for item in json.loads(path.read_text()):
            text = item["question"]
            s = split or ("test" if stable_fraction(text) < 0.2 else "train")
            out.append(
                OutcomeRecord(
                    text, "routerdc7", bench, s, {k: float(v) for k, v in item["scores"].items()}
                )
            )
    return out


def load_llmrouter(data_dir: Path) -> list[OutcomeRecord]:
    out: list[OutcomeRecord] = []
    for split in ("train", "test"):
        path = _note(data_dir / "llmrouter" / f"scores_{split}.json")
        for item in json.loads(path.read_text()):
            bench = LLMROUTER_TASKS[item["task_name"]]
            out.append(
                OutcomeRecord(
                    item["question"],
                    "llmrouter",
                    bench,
                    split,
                    {k: float(v) for k, v in item["scores"].items()},
                )
            )
    return out


def load_outcomes(data_dir: Path) -> list[OutcomeRecord]:
    return load_routerbench(data_dir) + load_routerdc7(data_dir) + load_llmrouter(data_dir)


def small_failure_target(rec: OutcomeRecord) -> float | None:
    """Soft label: share of the source's small/open models that fail the prompt."""
    if rec.source == "routerbench":
        models = ROUTERBENCH_SMALL
    elif rec.source == "llmrouter":
        models = LLMROUTER_SMALL
    else:
        models = tuple(rec.scores)  # routerdc7: seven 7B models
    vals = [
        rec.scores[m] for m in models if m in rec.scores and rec.scores[m] == rec.scores[m]
    ]  # skip NaN
    return 1.0 - sum(vals) / len(vals) if vals else None


# ----------------------------------------------------------------------------- banking77
# banking77 intents grouped as customer domains (in-domain) and held-out groups (out-of-domain)
BANKING_DOMAINS: dict[str, tuple[str, list[str]]] = {
    "card_delivery": (
        "Customer support for ordering, delivering, activating and replacing physical bank cards.",
        [
            "card_arrival",
            "card_delivery_estimate",
            "order_physical_card",
            "get_physical_card",
            "getting_spare_card",
            "activate_my_card",
            "card_about_to_expire",
            "card_linking",
        ],
    ),
    "card_security": (
        "Help with lost, stolen or compromised cards and phones, blocked PINs, changing a PIN and forgotten passcodes.",
        [
            "lost_or_stolen_card",
            "compromised_card",
            "card_swallowed",
            "pin_blocked",
            "change_pin",
            "passcode_forgotten",
            "lost_or_stolen_phone",
        ],
    ),
    "card_payments": (
        "Problems with card payments: declined, pending, reverted or unrecognised card transactions, duplicate charges, card payment fees, contactless, Apple Pay and Google Pay.",
        [
            "card_payment_not_recognised",
            "declined_card_payment",
            "pending_card_payment",
            "reverted_card_payment?",
            "card_payment_fee_charged",
            "card_payment_wrong_exchange_rate",
            "transaction_charged_twice",
            "card_not_working",
            "contactless_not_working",
            "card_acceptance",
            "apple_pay_or_google_pay",
        ],
    ),
    "top_ups": (
        "Topping up the account balance by card, bank transfer, cash or cheque: automatic top-ups, limits, fees, pending, failed or reverted top-ups.",
        [
            "automatic_top_up",
            "pending_top_up",
            "top_up_by_bank_transfer_charge",
            "top_up_by_card_charge",
            "top_up_by_cash_or_cheque",
            "top_up_failed",
            "top_up_limits",
            "top_up_reverted",
            "topping_up_by_card",
            "verify_top_up",
        ],
    ),
    "transfers": (
        "Sending and receiving bank transfers: pending, failed, declined or cancelled transfers, transfer fees and timing, beneficiaries, money not received.",
        [
            "cancel_transfer",
            "declined_transfer",
            "failed_transfer",
            "pending_transfer",
            "transfer_fee_charged",
            "transfer_into_account",
            "transfer_not_received_by_recipient",
            "transfer_timing",
            "receiving_money",
            "beneficiary_not_allowed",
            "balance_not_updated_after_bank_transfer",
        ],
    ),
    "cash_atm": (
        "Cash withdrawals and deposits at ATMs: withdrawal fees, declined or pending withdrawals, wrong amount of cash, unrecognised withdrawals.",
        [
            "atm_support",
            "cash_withdrawal_charge",
            "cash_withdrawal_not_recognised",
            "declined_cash_withdrawal",
            "pending_cash_withdrawal",
            "wrong_amount_of_cash_received",
            "wrong_exchange_rate_for_cash_withdrawal",
            "balance_not_updated_after_cheque_or_cash_deposit",
        ],
    ),
}
BANKING_HELD_OUT = [
    "verify_my_identity",
    "unable_to_verify_identity",
    "why_verify_identity",
    "verify_source_of_funds",
    "edit_personal_details",
    "terminate_account",
    "age_limit",
    "country_support",
    "exchange_rate",
    "exchange_charge",
    "exchange_via_app",
    "fiat_currency_support",
    "supported_cards_and_currencies",
    "visa_or_mastercard",
    "get_disposable_virtual_card",
    "getting_virtual_card",
    "virtual_card_not_working",
    "disposable_card_limits",
    "Refund_not_showing_up",
    "request_refund",
    "extra_charge_on_statement",
    "direct_debit_payment_not_recognised",
]


def load_banking77(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for split in ("train", "test"):
        path = _note(data_dir / "banking77" / f"{split}.csv")
        with path.open(newline="") as fh:
            out[split] = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    return out


# ------------------------------------------------------------------------- schema records
def load_labelled(path: Path = LABELLED_FILE) -> list[SchemaRecord]:
    out: list[SchemaRecord] = []
    for line in _note(path).read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        labels = schema_labels(
            r["task_type"],
            r["creativity"],
            r["reasoning"],
            r["contextual"],
            r["few_shots"],
            r["domain"],
            r["constrained"],
        )
        out.append(SchemaRecord(r["prompt"], labels, "labelled", r["group"], r["split"]))
    return out


def derived_schema_records(
    outcomes: list[OutcomeRecord], banking: dict[str, list[tuple[str, str]]], per_benchmark: int
) -> list[SchemaRecord]:
    """Dataset-level labels for public prompts, at most ``per_benchmark`` per benchmark+split."""
    pools: dict[tuple[str, str], list[str]] = {}
    for rec in outcomes:
        if rec.benchmark in DERIVED_LABELS:
            pools.setdefault((rec.benchmark, rec.split), []).append(rec.text)
    for split, rows in banking.items():
        pools[("banking77", split)] = [t for t, _ in rows]
    out: list[SchemaRecord] = []
    for (bench, split), texts in sorted(pools.items()):
        uniq = sorted(set(texts), key=stable_fraction)
        cap = per_benchmark if split == "train" else max(per_benchmark // 4, 10)
        task, creativity, reasoning, contextual, domain, constrained = DERIVED_LABELS[bench]
        for text in uniq[:cap]:
            labels = schema_labels(
                task, creativity, reasoning, contextual, _few_shot_count(text), domain, constrained
            )
            out.append(SchemaRecord(text, labels, "derived", bench, split))
    return out
