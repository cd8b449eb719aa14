"""The KGE model registry: lookup by name, and unknown names refused loudly wherever a model
name enters (the lookup itself, a saved artefact, the training config)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kg.kge import MODEL_NAMES, KGEArtefactError, KGEmbeddings
from kg.kge_config import TrainConfig, default_config
from kg.kge_models import KGE_MODELS, ComplEx, TransE, kge_model

REGISTERED = "registered models: TransE, ComplEx"


def _artefact(model: str = "TransE") -> KGEmbeddings:
    rng = np.random.default_rng(0)
    return KGEmbeddings(
        model=model,
        entity_ids=("e:a", "e:b", "e:c"),
        relation_ids=("R",),
        entities=rng.normal(size=(3, 4)).astype(np.float32),
        relations=rng.normal(size=(1, 4)).astype(np.float32),
        config={"scoring_norm": 2},
        metrics={},
        graph_revision=1,
    )


def test_registry_holds_pykeen_names_in_a_stable_order() -> None:
    assert tuple(KGE_MODELS) == ("TransE", "ComplEx") == MODEL_NAMES
    assert KGE_MODELS["TransE"] is TransE and KGE_MODELS["ComplEx"] is ComplEx


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TransE", TransE),
        ("transe", TransE),
        ("TRANSE", TransE),
        ("trans_e", TransE),
        ("TransEModel", TransE),
        ("ComplEx", ComplEx),
        ("complex", ComplEx),
        ("Compl-Ex", ComplEx),
    ],
)
def test_lookup_is_case_insensitive_like_pykeens_resolver(name: str, expected: type) -> None:
    assert kge_model(name) is expected


@pytest.mark.parametrize("name", ["RotatE", "NoSuchModel", "", "model", "trans"])
def test_lookup_of_an_unknown_name_lists_the_registered_models(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown KGE model {name!r}; {REGISTERED}"):
        kge_model(name)


def test_building_a_scorer_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="scoring_norm must be 1 or 2, got 3"):
        TransE(scoring_norm=3)
    with pytest.raises(ValueError, match=r"needs config\['scoring_norm'\] of 1 or 2"):
        TransE.from_config({})
    assert TransE.from_config({"scoring_norm": 2}) == TransE(scoring_norm=2)
    assert ComplEx.from_config({"scoring_norm": 2}) == ComplEx()


def test_an_artefact_of_an_unregistered_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KGEArtefactError, match=f"unknown KGE model 'RotatE'; {REGISTERED}"):
        _artefact("RotatE")

    _artefact().save(tmp_path / "kge")
    meta_path = tmp_path / "kge" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["model"] = "RotatE"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(KGEArtefactError) as caught:
        KGEmbeddings.load(tmp_path / "kge")
    message = str(caught.value)
    assert "unknown KGE model 'RotatE'" in message and REGISTERED in message
    assert "kgsearch train-kge" in message and caught.value.code == "kge_artefact"


def test_an_artefact_records_the_canonical_name(tmp_path: Path) -> None:
    artefact = _artefact("transe")
    assert artefact.model == "TransE"
    artefact.save(tmp_path / "kge")
    assert json.loads((tmp_path / "kge" / "meta.json").read_text())["model"] == "TransE"


def test_an_artefact_whose_rows_do_not_fit_its_model_is_refused() -> None:
    with pytest.raises(KGEArtefactError, match="ComplEx rows must have an even width"):
        KGEmbeddings(
            model="ComplEx",
            entity_ids=("e:a",),
            relation_ids=("R",),
            entities=np.zeros((1, 5), np.float32),
            relations=np.zeros((1, 5), np.float32),
            config={},
            metrics={},
            graph_revision=None,
        )
    with pytest.raises(KGEArtefactError, match=r"needs config\['scoring_norm'\]"):
        KGEmbeddings(
            model="TransE",
            entity_ids=("e:a",),
            relation_ids=("R",),
            entities=np.zeros((1, 4), np.float32),
            relations=np.zeros((1, 4), np.float32),
            config={"scoring_norm": 3},
            metrics={},
            graph_revision=None,
        )


def test_training_config_refuses_models_that_are_not_registered() -> None:
    with pytest.raises(ValueError, match=r"'RotatE' is known to PyKEEN but not supported.*TransE"):
        TrainConfig(model="RotatE")
    with pytest.raises(ValueError, match=r"unknown KGE model 'NoSuchModel'.*TransE, ComplEx"):
        TrainConfig(model="NoSuchModel")
    with pytest.raises(ValueError, match="'RotatE' is known to PyKEEN but not supported"):
        default_config("RotatE", "graph")
    assert TrainConfig(model="COMPLEX").model == "ComplEx"


@pytest.mark.parametrize("name", list(KGE_MODELS))
def test_every_registered_model_has_tuned_defaults(name: str) -> None:
    for dataset in ("graph", "nations"):
        assert default_config(name, dataset).model == name
