"""Another sentence model from a local folder (``KGSEARCH_ENCODER_MODEL_DIR``): its own
width and name reach the index, a folder that is not a mean-pooled transformer is refused
with a message saying why, and an index built with one model is not served with another.

The model here is a 2-layer, 32-wide BERT with random weights and MiniLM's tokenizer,
saved the way transformers saves any model: what matters is the plumbing, not quality."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_PRODUCTS
from pydantic import ValidationError
from typer.testing import CliRunner

from app.cli import app
from app.engine import Engine
from app.settings import Settings
from ingest.formats import write_products
from ingest.versions import BuildCheckError
from search.encoder import MiniLMEncoder, _default_model_dir, sentence_model_shape

WIDTH = 32


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    packaged = _default_model_dir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(packaged / name, folder / name)
    return folder


def _variant(model: Path, target: Path) -> Path:
    shutil.copytree(model, target)
    return target


def test_a_model_folder_gives_its_own_width_and_name(tiny_model: Path) -> None:
    encoder = MiniLMEncoder(model_dir=tiny_model)
    assert encoder.dim == WIDTH
    assert encoder.name.startswith("tiny-bert@local-")
    vectors = encoder.encode(["a blue velvet sofa", "brass desk lamp", "sofa"])
    assert vectors.shape == (3, WIDTH)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert f":{WIDTH}:" in encoder.identity
    # the packaged model keeps its own name and width
    assert (MiniLMEncoder().name, MiniLMEncoder().dim) == ("all-MiniLM-L6-v2", 384)


def test_other_weights_in_the_same_folder_give_another_name(
    tiny_model: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import BertModel

    copy = _variant(tiny_model, tmp_path / "tiny-bert")
    before, _ = sentence_model_shape(copy)
    model = BertModel.from_pretrained(str(copy), local_files_only=True)
    with torch.no_grad():
        model.pooler.dense.bias.add_(1.0)  # a fine-tuning step, in place
    model.save_pretrained(copy)
    after, _ = sentence_model_shape(copy)
    assert after != before  # so an index built with the old weights is not served


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no config\.json"):
        MiniLMEncoder(model_dir=tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"')
    with pytest.raises(ValueError, match=r"config\.json cannot be read"):
        MiniLMEncoder(model_dir=tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="hidden_size"):
        MiniLMEncoder(model_dir=tmp_path)


def test_a_model_that_does_not_mean_pool_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    cls_pooled = _variant(tiny_model, tmp_path / "cls")
    (cls_pooled / "1_Pooling").mkdir()
    (cls_pooled / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(ValueError, match="pooling_mode_cls_token; only mean pooling"):
        MiniLMEncoder(model_dir=cls_pooled)

    projected = _variant(tiny_model, tmp_path / "dense")
    modules = [
        {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (projected / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match=r"sentence_transformers\.models\.Dense"):
        MiniLMEncoder(model_dir=projected)
    (projected / "modules.json").write_text('{"0": "Transformer"}')
    with pytest.raises(ValueError, match="not a list of modules"):
        MiniLMEncoder(model_dir=projected)


def test_the_onnx_runtime_with_a_model_folder_is_a_settings_error(tiny_model: Path) -> None:
    with pytest.raises(ValidationError, match="KGSEARCH_ENCODER_RUNTIME=torch"):
        Settings(encoder_model_dir=tiny_model, encoder_runtime="onnx")
    assert Settings(encoder_model_dir=tiny_model).encoder_model_dir == tiny_model


@pytest.fixture(scope="module")
def home(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("model-dir-home")
    write_products(home / "small.csv", SMALL_PRODUCTS)
    engine = Engine(Settings(home=home, encoder_model_dir=tiny_model))
    engine.import_catalogue(home / "small.csv")
    engine.reindex()
    engine.close()
    yield home


def test_the_index_is_built_and_searched_with_the_folder_model(
    home: Path, tiny_model: Path
) -> None:
    engine = Engine(Settings(home=home, encoder_model_dir=tiny_model))
    try:
        service, manifest = engine.service()
        assert manifest.dim == WIDTH
        assert manifest.encoder == engine.encoder.name
        assert manifest.encoder.startswith("tiny-bert@")
        hits = service.search("velvet sofa", k=3).hits
        assert hits and hits[0].product_id == "S1"  # BM25 carries it; dense is random here
    finally:
        engine.close()


def test_an_index_built_with_the_folder_model_is_not_served_with_minilm(home: Path) -> None:
    engine = Engine(Settings(home=home, encoder_runtime="torch"))
    try:
        with pytest.raises(BuildCheckError, match=r"tiny-bert@.*\(32-d\).*run `kgsearch reindex`"):
            engine.service()
    finally:
        engine.close()


def test_the_cli_names_a_bad_model_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGSEARCH_ENCODER_MODEL_DIR", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(app, ["--home", str(home), "--quiet", "search", "sofa"])
    assert result.exit_code == 2
    assert "KGSEARCH_ENCODER_MODEL_DIR" in result.stderr
    assert "no config.json" in result.stderr


def test_the_cli_says_to_reindex_when_the_model_changed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGSEARCH_ENCODER_RUNTIME", "torch")  # the packaged MiniLM
    result = CliRunner().invoke(app, ["--home", str(home), "--quiet", "search", "sofa"])
    assert result.exit_code == 1, result.output
    assert "was built with tiny-bert@" in result.stderr
    assert "run `kgsearch reindex`" in result.stderr
    assert "Traceback" not in result.output
