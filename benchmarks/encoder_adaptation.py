"""Does adapting MiniLM to the catalogue help search? Measured on train and valid only.

MiniLM is fine-tuned on pseudo-queries that the graph writes for each product (its class,
its leaf category, "<value> <class>", "<brand> <class>", and one sentence of its
description as an inverse-cloze query), with in-batch negatives: a batch holds one
product of each of ``--batch`` different classes, so no other product in it is a right
answer. No judged query, and none of the generator's query phrasings, is trained on.

Two reports, the test split read by neither:

1. the dense signal alone (cosine over the whole catalogue, top 10) on the train and
   valid queries, per query kind, with the packaged model and with the adapted one;
2. with ``--reindex``: two copies of the home, each reindexed with one of the two models
   and every ranker retrained, exactly as ``kgsearch reindex --retrain`` does, then
   NDCG@10 per kind of every ranker on the valid split.

    python benchmarks/encoder_adaptation.py --home /tmp/home5k --reindex \\
        --model-out /tmp/minilm-adapted [--out report.json]

Results and the decision taken on them: docs/results.md ("Issue 16", encoder adaptation).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.engine import Engine
from app.settings import Settings
from ingest.rankers import collect_runs
from kg.documents import ProductDocument
from ranker.evaluation import JudgedQuery, evaluate
from ranker.metrics import ndcg_at_k
from search.encoder import MiniLMEncoder, _default_model_dir, mean_pooled, product_text

#: Attribute keys whose values say nothing a shopper searches for.
SKIP_KEYS = frozenset({"countryoforigin", "warrantylength", "assemblyrequired"})


#: The kinds of pseudo-query :func:`pseudo_queries` writes.
QUERY_KINDS = ("class", "category", "value", "brand", "sentence")


def pseudo_queries(
    doc: ProductDocument, rng: random.Random, kinds: Sequence[str] = QUERY_KINDS
) -> list[str]:
    """What the graph can say a shopper might type for ``doc``, of the ``kinds`` asked."""
    cls = doc.product_class.lower()
    queries = []
    if "class" in kinds:
        queries.append(cls)
    if "category" in kinds:
        queries.append(doc.category_path[-1].lower())
    values = [
        v.lower()
        for k, v in doc.attributes.items()
        if k not in SKIP_KEYS and not re.search(r"\d", v)
    ]
    if values and "value" in kinds:
        queries.append(f"{rng.choice(values)} {cls}")
    if doc.brand and "brand" in kinds:
        queries.append(f"{doc.brand.lower()} {cls}")
    sentences = [
        s.strip().rstrip(".?!").lower()
        for s in re.split(r"(?<=[.?!])\s+", doc.description)
        if len(s.split()) >= 4
    ]
    if sentences and "sentence" in kinds:
        queries.append(rng.choice(sentences))
    return queries or [cls]


def fine_tune(
    docs: Sequence[ProductDocument],
    out: Path,
    *,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    kinds: Sequence[str] = QUERY_KINDS,
) -> float:
    """Fine-tune the packaged MiniLM on pseudo-queries and save it to ``out``; return the
    seconds it took."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    source = str(_default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModel.from_pretrained(source, local_files_only=True)
    by_class: dict[str, list[ProductDocument]] = defaultdict(list)
    for doc in docs:
        by_class[doc.product_class].append(doc)
    classes = sorted(by_class)
    if len(classes) < batch:
        raise SystemExit(f"--batch {batch} needs that many classes; the home has {len(classes)}")

    def embed(texts: list[str], max_length: int) -> Any:
        tokens = tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return mean_pooled(model(**tokens).last_hidden_state, tokens["attention_mask"])

    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    labels = torch.arange(batch)
    start = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        chosen = [rng.choice(by_class[c]) for c in rng.sample(classes, batch)]
        queries = [rng.choice(pseudo_queries(d, rng, kinds)) for d in chosen]
        # scale 20: the temperature sentence-transformers' MultipleNegativesRankingLoss uses
        logits = 20.0 * embed(queries, 32) @ embed([product_text(d) for d in chosen], 128).T
        loss = torch.nn.functional.cross_entropy(logits, labels)
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        if step % 50 == 0 or step == steps:
            print(f"step {step}/{steps} loss {loss.item():.3f}", flush=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return time.perf_counter() - start


def dense_alone(
    encoder: MiniLMEncoder, docs: Sequence[ProductDocument], queries: Sequence[JudgedQuery]
) -> dict[str, float]:
    """NDCG@10 of the cosine top 10 over the whole catalogue, overall and per kind."""
    products = encoder.encode([product_text(d) for d in docs])
    scores = encoder.encode([q.text for q in queries]) @ products.T
    ids = [d.product_id for d in docs]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for row, query in zip(scores, queries, strict=True):
        top = np.argsort(-row, kind="stable")[:10]
        ndcg = ndcg_at_k([ids[i] for i in top], query.grades, 10)
        if ndcg is not None:
            by_kind["all"].append(ndcg)
            by_kind[query.kind or "unknown"].append(ndcg)
    return {k: round(float(np.mean(v)), 4) for k, v in sorted(by_kind.items())}


def rankers_on_valid(home: Path, encoder: MiniLMEncoder) -> dict[str, Any]:
    """Reindex ``home`` with ``encoder``, retraining every ranker, and score them on the
    valid split."""
    engine = Engine(Settings(home=home), encoder=encoder)
    start = time.perf_counter()
    manifest = engine.reindex(retrain=True)
    seconds = time.perf_counter() - start
    service, _ = engine.service()
    valid = [q for q in engine.judged() if q.split == "valid" and q.grades]
    scores = evaluate(collect_runs(service, valid), engine.rankers())
    engine.close()
    return {
        "version": manifest.version,
        "encoder_identity": manifest.encoder_identity,
        "reindex_s": round(seconds, 1),
        "valid": {
            name: {"ndcg@10": round(s.means["ndcg@10"], 4), "by_kind": s.by_kind()}
            for name, s in scores.items()
        },
    }


def train_and_valid(
    home: Path,
) -> tuple[str, list[ProductDocument], list[JudgedQuery]]:
    """The live index version of ``home``, its products in id order, and its judged train
    and valid queries (never test)."""
    engine = Engine(Settings(home=home))
    service, manifest = engine.service()
    docs = sorted(service.documents.values(), key=lambda d: d.product_id)
    queries = [q for q in engine.judged() if q.split in ("train", "valid") and q.grades]
    engine.close()
    return manifest.version, docs, queries


def rankers_on_copies(home: Path, encoders: dict[str, MiniLMEncoder]) -> dict[str, Any]:
    """:func:`rankers_on_valid` for each encoder, each on its own copy of ``home`` (the
    home itself is not touched), keyed ``rankers_<name>``."""
    reports: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kgsearch-encoder-") as tmp:
        for name, encoder in encoders.items():
            copy = Path(tmp) / name
            shutil.copytree(home, copy, symlinks=True)
            reports[f"rankers_{name}"] = rankers_on_valid(copy, encoder)
            shutil.rmtree(copy)
    return reports


def finish(report: dict[str, Any], out: Path | None) -> None:
    """Add the load average, print the report and write it to ``out`` when given."""
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kinds",
        default=",".join(QUERY_KINDS),
        help=f"comma-separated pseudo-query kinds to train on, of {', '.join(QUERY_KINDS)}",
    )
    parser.add_argument("--reindex", action="store_true", help="also report the rankers")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(QUERY_KINDS):
        parser.error(f"unknown --kinds {sorted(unknown)}; choose from {', '.join(QUERY_KINDS)}")

    version, docs, queries = train_and_valid(args.home)
    report: dict[str, Any] = {
        "home": str(args.home),
        "index": version,
        "products": len(docs),
        "queries_train_valid": len(queries),
        "settings": {k: getattr(args, k) for k in ("steps", "batch", "lr", "seed", "kinds")},
    }
    seconds = fine_tune(
        docs,
        args.model_out,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        kinds=kinds,
    )
    report["fine_tune_s"] = round(seconds, 1)
    report["dense_alone"] = {
        "packaged": dense_alone(MiniLMEncoder(), docs, queries),
        "adapted": dense_alone(MiniLMEncoder(model_dir=args.model_out), docs, queries),
    }
    print(json.dumps(report["dense_alone"]), flush=True)
    if args.reindex:
        encoders = {"packaged": MiniLMEncoder(), "adapted": MiniLMEncoder(model_dir=args.model_out)}
        report |= rankers_on_copies(args.home, encoders)
    finish(report, args.out)


if __name__ == "__main__":
    main()
