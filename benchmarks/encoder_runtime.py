"""MiniLM on torch (transformers) vs ONNX Runtime, in one process, same texts:

1. agreement: cosine between each runtime's vector and torch's, on 500 generated product
   texts and the 200 queries;
2. query encoding: ``encode([query])`` for 200 queries (the real WANDS queries when the
   shared data is there, else the generated ones), runtimes interleaved query by query,
   after 20 warm-up queries each; p50 / p99;
3. bulk encoding: 500 product texts (``product_text`` of a generated 500-product
   catalogue), batch size 64, products/s (best of ``--rounds``, rounds interleaved);
4. ONNX load, in-process: reading + checking the sha256 of the cached model; all of
   ``load()`` (that, the tokenizer, the session);
5. the int8 variant (``onnxruntime.quantization.quantize_dynamic`` of the same export,
   weights int8, activations quantised per batch): the same agreement and timings, plus
   how far a text's vector moves with the batch it is in (the contract allows 1e-5).

ONNX runs with 1 and with 2 intra-op threads; torch with its default (``torch.get_num_threads()``).
Prints a Markdown table and writes benchmarks/results/encoder-runtime.json.

    python benchmarks/encoder_runtime.py [--rounds 2] [--model-cache ~/.cache/kgsearch/models]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ingest.records import ProductRecord
from kg.documents import ProductDocument
from search.encoder import Encoder, MiniLMEncoder, product_text
from search.onnx_encoder import OnnxMiniLMEncoder, ensure_onnx_model
from synthetic.generator import generate_catalog

ROOT = Path(__file__).resolve().parents[1]
WANDS_QUERIES = Path("/work/shared/data/wands/query.csv")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def product_texts(records: Iterable[ProductRecord]) -> list[str]:
    """The encoder's text of each generated product record."""
    return [
        product_text(
            ProductDocument(
                product_id=r.product_id,
                name=r.name,
                product_class=r.product_class,
                category_path=r.category_path,
                brand=r.brand,
                attributes=dict(r.features),
                description=r.description,
            )
        )
        for r in records
    ]


def texts() -> tuple[list[str], list[str]]:
    catalog = generate_catalog(size=500, seed=13)
    shared = ROOT.parent / "shared" / "data" / "wands" / "query.csv"
    source = shared if shared.is_file() else WANDS_QUERIES
    if source.is_file():
        with source.open(newline="") as f:
            queries = [row["query"] for row in csv.DictReader(f, delimiter="\t")][:200]
    else:
        queries = [q.query for q in catalog.queries][:200]
    return product_texts(catalog.products), queries


def quantised(fp32: Path, where: Path) -> OnnxMiniLMEncoder:
    """An encoder whose cache holds the int8 dynamic quantisation of ``fp32``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def export(model_dir: Path, destination: Path, opset: int) -> None:
        quantize_dynamic(str(fp32), str(destination), weight_type=QuantType.QInt8)

    ensure_onnx_model(where, export=export)
    encoder = OnnxMiniLMEncoder(cache_dir=where)
    encoder.load()
    return encoder


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model-cache", type=Path, default=Path("~/.cache/kgsearch/models"))
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/encoder-runtime.json"
    )
    args = parser.parse_args()
    cache = args.model_cache.expanduser()
    load_before = os.getloadavg()[0]
    products, queries = texts()

    torch_encoder = MiniLMEncoder()
    torch_encoder.encode(["warm up"])
    import torch

    onnx1 = OnnxMiniLMEncoder(cache_dir=cache, threads=1)
    onnx1.load()  # exports the model if this machine has not yet
    load = {  # the second is the first plus the tokenizer and the session
        "read_and_sha256_s": timed(lambda: ensure_onnx_model(cache)),
        "load_total_s": timed(lambda: OnnxMiniLMEncoder(cache_dir=cache).load()),
    }
    onnx2 = OnnxMiniLMEncoder(cache_dir=cache, threads=2)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = quantised(onnx1.model_path, Path(tmp))
        encoders: dict[str, Encoder] = {
            f"torch ({torch.get_num_threads()} threads)": torch_encoder,
            "onnx fp32, 1 thread": onnx1,
            "onnx fp32, 2 threads": onnx2,
            "onnx int8, 1 thread": int8,
        }
        reference = torch_encoder.encode(products + queries)
        results: dict[str, dict[str, Any]] = {name: {} for name in encoders}
        for name, encoder in encoders.items():
            vectors = encoder.encode(products + queries)
            cosines = np.sum(vectors * reference, axis=1)
            alone = np.vstack([encoder.encode([t]) for t in products[:64]])
            results[name]["cosine_vs_torch_min"] = round(float(cosines.min()), 7)
            results[name]["cosine_vs_torch_mean"] = round(float(cosines.mean()), 7)
            results[name]["batch_vs_alone_max_abs"] = float(np.abs(alone - vectors[:64]).max())
            for q in queries[:20]:
                encoder.encode([q])

        latencies: dict[str, list[float]] = {name: [] for name in encoders}
        for q in queries:
            for name, encoder in encoders.items():
                latencies[name].append(timed(lambda e=encoder, q=q: e.encode([q])) * 1000)
        bulk: dict[str, list[float]] = {name: [] for name in encoders}
        for _ in range(args.rounds):
            for name, encoder in encoders.items():
                bulk[name].append(len(products) / timed(lambda e=encoder: e.encode(products)))
        for name in encoders:
            results[name] |= {
                "query_p50_ms": round(percentile(latencies[name], 50), 2),
                "query_p99_ms": round(percentile(latencies[name], 99), 2),
                "query_mean_ms": round(statistics.fmean(latencies[name]), 2),
                "bulk_products_per_s": round(max(bulk[name]), 1),
                "bulk_runs": [round(b, 1) for b in bulk[name]],
            }
        sizes = {"fp32_mb": onnx1.model_path.stat().st_size / 1e6}
        sizes["int8_mb"] = int8.model_path.stat().st_size / 1e6

    report = {
        "texts": {"products": len(products), "queries": len(queries)},
        "results": results,
        "onnx_load_s": {k: round(v, 3) for k, v in load.items()},
        "model_mb": {k: round(v, 1) for k, v in sizes.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| runtime | cosine vs torch (min) | batch vs alone | query p50 | query p99 | bulk |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['cosine_vs_torch_min']:.7f} | {r['batch_vs_alone_max_abs']:.1e} | "
            f"{r['query_p50_ms']:.2f} ms | {r['query_p99_ms']:.2f} ms | "
            f"{r['bulk_products_per_s']:.0f} products/s |"
        )
    print(json.dumps({k: report[k] for k in ("onnx_load_s", "model_mb", "machine")}))


if __name__ == "__main__":
    main()
