"""The one-shot device check (issue 14, item 7): GPU against CPU, in one run.

    python benchmarks/device_check.py [--products 2000] [--size 5000] [--epochs 3]

1. **Encoder**: MiniLM over ``--products`` generated product texts, batch 64, products per
   second: ONNX Runtime on the CPU (what the CPU default serves and indexes with) and,
   when torch sees a CUDA device, transformers on it (``KGSEARCH_DEVICE=cuda``); also
   torch on the CPU, the same model both places, so the ratio is the device's alone.
2. **KG embeddings**: seconds per TransE epoch on every triple of the ``--size``
   generated catalogue's graph (the graph config, ``kg.kge_training``), on the CPU and,
   when present, on the GPU.

Without a CUDA device it measures the CPU side, says ``"cuda": "not available"``, and
exits 0, so the same command runs on any machine. Writes
``benchmarks/results/device-check.json`` (with the machine and the commit) and prints a
Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from encoder_runtime import product_texts  # noqa: E402
from kge_epoch import catalogue_triples, time_epochs  # noqa: E402
from reindex_times import commit, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "device-check.json"


def encode_rate(encoder: Any, texts: list[str]) -> float:
    """Products per second, after one warm-up batch (model load, kernels)."""
    encoder.encode(texts[:64])
    started = time.perf_counter()
    for i in range(0, len(texts), 64):
        encoder.encode(texts[i : i + 64])
    return round(len(texts) / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--size", default="5000", help="catalogue size for the KGE graph")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import torch

    from app.settings import Settings
    from search.encoder import MiniLMEncoder
    from search.onnx_encoder import OnnxMiniLMEncoder

    cuda = torch.cuda.is_available()
    report: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "cuda": torch.cuda.get_device_name(0) if cuda else "not available",
        "encoder": {"products": args.products, "batch": 64},
    }
    from synthetic.generator import generate_catalog

    texts = product_texts(generate_catalog(size=args.products, seed=13).products)
    settings = Settings()  # the model cache and encoder threads a reindex would use
    onnx = OnnxMiniLMEncoder(cache_dir=settings.model_cache_dir, threads=settings.encoder_threads)
    report["encoder"]["onnx_cpu_per_s"] = encode_rate(onnx, texts)
    report["encoder"]["torch_cpu_per_s"] = encode_rate(MiniLMEncoder(device="cpu"), texts)
    if cuda:
        rate = encode_rate(MiniLMEncoder(device="cuda"), texts)
        enc = report["encoder"]
        enc["torch_cuda_per_s"] = rate
        enc["cuda_over_onnx_cpu"] = round(rate / enc["onnx_cpu_per_s"], 1)

    size: str | int = int(args.size) if args.size.isdigit() else args.size
    triples = catalogue_triples(size)
    report["kge"] = {"size": args.size, "triples": len(triples), "epochs": args.epochs}
    for device in ("cpu", "cuda") if cuda else ("cpu",):
        timed = time_epochs(triples, "TransE", args.epochs, 0, device=device)
        report["kge"][f"transe_{device}_s_per_epoch"] = timed["seconds_per_epoch"]
    if cuda:
        kge = report["kge"]
        kge["cpu_over_cuda"] = round(
            kge["transe_cpu_s_per_epoch"] / max(kge["transe_cuda_s_per_epoch"], 1e-9), 1
        )

    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    enc, kge = report["encoder"], report["kge"]
    print(f"| what | CPU | GPU ({report['cuda']}) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| MiniLM, products/s (batch 64) | {enc['onnx_cpu_per_s']} (ONNX), "
        f"{enc['torch_cpu_per_s']} (torch) | {enc.get('torch_cuda_per_s', '-')} (torch) | "
        f"{enc.get('cuda_over_onnx_cpu', '-')} × ONNX CPU |"
    )
    print(
        f"| TransE epoch, {kge['triples']:,} triples | {kge['transe_cpu_s_per_epoch']} s | "
        f"{kge.get('transe_cuda_s_per_epoch', '-')} s | {kge.get('cpu_over_cuda', '-')} × |"
    )


if __name__ == "__main__":
    main()
