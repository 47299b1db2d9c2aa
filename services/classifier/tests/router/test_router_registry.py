"""The registry cache over an in-memory store: loading, embeddings, refreshes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from modality.classifier import contract
from modality.classifier.router.registry import Registry
from modality.common import subjects
from modality.common.events import CustomerUpdated, ModelDemoted, ModelPromoted, ModelRegistered
from modality.common.routing import Policy

LEGAL = "review lease contract clause termination landlord tenant"


@pytest.fixture
def registry(store: Any, fake_classifier: Any) -> Registry:
    return Registry(store, fake_classifier.embed)


async def test_reload_all_groups_active_models_by_customer(
    registry: Registry, store: Any, records: Any
) -> None:
    store.add(
        records.customer("cus_a", "learned", alpha=0.3, default_model="x"),
        records.customer("cus_b"),
        records.model("a1", "cus_a", domain_description=LEGAL),
        records.model("a2", "cus_a", status="evaluating"),
        records.model("b1", "cus_b"),
    )
    assert await registry.reload_all() == 2
    a = registry.cached("cus_a")
    assert a is not None and (a.policy, a.alpha, a.default_model) == (Policy.LEARNED, 0.3, "x")
    assert [m.name for m in a.models] == ["a1"] and a.matchable == (0,)
    assert a.domain_matrix.shape == (1, contract.EMBEDDING_DIM)
    b = registry.cached("cus_b")
    assert b is not None and [m.name for m in b.models] == ["b1"] and b.matchable == ()


async def test_missing_or_foreign_embeddings_are_computed_and_written_back(
    registry: Registry, store: Any, records: Any, fake_classifier: Any
) -> None:
    store.add(
        records.customer(),
        records.model("fresh", domain_description=LEGAL, embed=False),
        replace(
            records.model("foreign", domain_description="card refund"),
            embedding_model="other-encoder",
        ),
        records.model("ready", domain_description="bank transfer"),
        records.model("blank"),
    )
    await registry.reload_all()
    assert sorted(mid for mid, _ in store.saved) == ["mdl_foreign", "mdl_fresh"]
    assert {m for _, m in store.saved} == {contract.ENCODER_NAME}
    assert fake_classifier.embed_calls == [[LEGAL, "card refund"]]
    routing = registry.cached("cus_a")
    assert routing is not None
    assert {routing.models[i].name for i in routing.matchable} == {"fresh", "foreign", "ready"}
    fresh = store.models["mdl_fresh"]
    assert np.allclose(fresh.domain_embedding, records.bag(LEGAL))


async def test_a_cache_miss_loads_the_customer_once(
    registry: Registry, store: Any, records: Any
) -> None:
    store.add(records.customer("cus_new", "rules"))
    results = await asyncio.gather(*(registry.get("cus_new") for _ in range(20)))
    assert store.loads == 1 and all(r is results[0] for r in results)
    assert results[0].policy is Policy.RULES and results[0].known


async def test_unknown_customer_gets_defaults_until_it_exists(
    registry: Registry, store: Any, records: Any
) -> None:
    ghost = await registry.get("cus_ghost")
    assert not ghost.known and ghost.policy is Policy.EMBEDDING and ghost.models == ()
    store.add(records.customer("cus_ghost", "passthrough", default_model="m"))
    await registry.reload_customer("cus_ghost")
    assert (await registry.get("cus_ghost")).policy is Policy.PASSTHROUGH


async def test_customer_update_applies_without_a_database_read(
    registry: Registry, store: Any, records: Any
) -> None:
    store.add(records.customer(), records.model("a1", domain_description=LEGAL))
    await registry.reload_all()
    loads = store.loads
    registry.apply_customer_update(
        CustomerUpdated(
            customer_id="cus_a", routing_policy="learned", routing_alpha=0.2, default_model="d"
        )
    )
    routing = registry.cached("cus_a")
    assert routing is not None and store.loads == loads
    assert (routing.policy, routing.alpha, routing.default_model) == (Policy.LEARNED, 0.2, "d")
    assert [m.name for m in routing.models] == ["a1"]


async def test_an_unknown_policy_falls_back_to_embedding(
    registry: Registry, store: Any, records: Any
) -> None:
    store.add(records.customer(policy="astrology"))
    assert (await registry.get("cus_a")).policy is Policy.EMBEDDING


async def test_promotion_embeds_and_demotion_removes(
    registry: Registry, store: Any, records: Any
) -> None:
    store.add(records.customer())
    await registry.reload_all()
    store.add(records.model("new", domain_description=LEGAL, embed=False))
    await registry.on_model_event(
        subjects.MODEL_PROMOTED,
        ModelPromoted(model_id="mdl_new", name="new", customer_id="cus_a", status="active"),
    )
    assert store.saved == [("mdl_new", contract.ENCODER_NAME)]
    routing = registry.cached("cus_a")
    assert (
        routing is not None
        and [m.name for m in routing.models] == ["new"]
        and routing.matchable == (0,)
    )

    store.models["mdl_new"] = replace(store.models["mdl_new"], status="retired")
    await registry.on_model_event(
        subjects.MODEL_DEMOTED,
        ModelDemoted(model_id="mdl_new", name="new", customer_id="cus_a", status="retired"),
    )
    routing = registry.cached("cus_a")
    assert routing is not None and routing.models == ()


async def test_registration_embeds_a_model_that_is_not_active_yet(
    registry: Registry, store: Any, records: Any
) -> None:
    store.add(
        records.customer(),
        records.model("cand", domain_description=LEGAL, embed=False, status="evaluating"),
    )
    await registry.on_model_event(
        subjects.MODEL_REGISTERED,
        ModelRegistered(model_id="mdl_cand", name="cand", customer_id="cus_a", status="evaluating"),
    )
    assert store.models["mdl_cand"].embedding_model == contract.ENCODER_NAME
    routing = registry.cached("cus_a")
    assert routing is not None and routing.models == ()
