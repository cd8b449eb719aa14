"""Search under load with locust (headless): 8 simulated shoppers search while (a) a full
reindex runs and (b) 1,000 catalog edits run concurrently through the API.

The server is a real ``kgsearch serve`` process on a copy of a demo home (``tiny`` by
default, built once into ~/.cache/kgsearch/bench/load-<size>); locust's users are gevent
greenlets in this process. What must hold, and is checked (the script exits 1 if not):

- **zero failed requests**: every search answers 200 with a body that names its index
  version (``index_version``), during both phases;
- **zero results mixing two index versions**: in phase (a) (no edits), every response is
  exactly the answer of the version it names: the hits (ids and scores) of a query are
  compared with that version's answer taken alone, before the reindex (old version) and
  after it (new version);
- **zero lost edits**: every edit the API acknowledged (200) is in the change log (an
  update of that product to that price), and each product's version and price in the
  graph afterwards are those of its last acknowledged edit.

Prints a JSON report and writes it to benchmarks/results/load-search.json.

    python benchmarks/load_search.py [--size tiny] [--clients 8] [--edits 1000]
                                     [--editors 8] [--baseline-s 10] [--retrain]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: locust's users are greenlets

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402
import requests  # noqa: E402
from locust import FastHttpUser, between, task  # noqa: E402
from locust.env import Environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import HEADER, KeyStore, Role  # noqa: E402
from app.engine import Engine  # noqa: E402
from app.settings import Settings  # noqa: E402
from kg.schema import EntityKind  # noqa: E402

CACHE = Path(os.environ.get("KGSEARCH_CACHE", Path.home() / ".cache" / "kgsearch"))
RESULTS = ROOT / "benchmarks" / "results" / "load-search.json"
NEW_RECALL_K = 20  # the reindexed version's (see reindex_phase)


@dataclass
class Answers:
    """Every search response of a phase: (query, index version, hits)."""

    phase: str = "baseline"
    seen: dict[str, list[tuple[str, str, tuple[Any, ...]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def record(self, query: str, body: dict[str, Any]) -> None:
        self.seen[self.phase].append((query, body["index_version"], hits_of(body)))


ANSWERS = Answers()
QUERIES: list[str] = []


def hits_of(body: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((h["product_id"], h["score"]) for h in body["hits"])


class Shopper(FastHttpUser):
    """Searches the demo's queries in turn, as fast as the server answers (0-100 ms apart)."""

    wait_time = between(0.0, 0.1)

    def on_start(self) -> None:
        self.turn = id(self) % max(1, len(QUERIES))

    @task
    def search(self) -> None:
        query = QUERIES[self.turn % len(QUERIES)]
        self.turn += 1
        with self.client.get(
            "/search", params={"q": query, "k": 10}, name="/search", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            body = response.json()
            if not isinstance(body.get("index_version"), str):
                response.failure("the response does not name its index version")
                return
            ANSWERS.record(query, body)
            response.success()


# -- the home and the server ----------------------------------------------------------------


def built_home(size: str) -> Path:
    """A demo home of ``size`` with its live index, built once and kept."""
    from app.demo import prepare_demo

    home = CACHE / "bench" / f"load-{size}"
    engine = Engine(Settings(home=home))
    prepare_demo(engine, size=size, seed=13, progress=lambda *_: None)
    engine.close()
    return home


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kgsearch(
    home: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KGSEARCH_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=env, cwd=ROOT, **popen)


def wait_warm(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=5).json().get("warm"):
                return
        except (requests.RequestException, ValueError):
            pass
        gevent.sleep(0.5)
    raise RuntimeError(f"the server at {url} did not warm up in {timeout_s:.0f} s")


# -- phases ---------------------------------------------------------------------------------


def stats_of(env: Environment, seconds: float) -> dict[str, Any]:
    total = env.stats.total
    return {
        "seconds": round(seconds, 1),
        "requests": total.num_requests,
        "failures": total.num_failures,
        "requests_per_s": round(total.num_requests / seconds, 1) if seconds else 0.0,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
        "max_ms": round(total.max_response_time or 0, 1),
        "errors": [str(e.error)[:200] for e in env.stats.errors.values()][:5],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def phase(env: Environment, name: str, clients: int, during: Any) -> dict[str, Any]:
    """Run ``clients`` shoppers while ``during()`` runs (in this greenlet); their stats."""
    env.stats.reset_all()
    ANSWERS.phase = name
    assert env.runner is not None
    env.runner.start(clients, spawn_rate=clients)
    started = time.perf_counter()
    try:
        extra = during()
    finally:
        env.runner.stop()
    seconds = time.perf_counter() - started
    return {**stats_of(env, seconds), **(extra or {})}


def answers_now(url: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Each query's answer, asked alone: (index version, hits)."""
    out = {}
    for q in QUERIES:
        body = requests.get(f"{url}/search", params={"q": q, "k": "10"}, timeout=60).json()
        out[q] = (body["index_version"], hits_of(body))
    return out


def reindex_phase(home: Path, *, retrain: bool) -> dict[str, Any]:
    """A full reindex (every product encoded again; ``retrain``: the rankers trained
    again) in its own process. The new version recalls fewer candidates (``recall_k``
    20, the live one 200) so the two versions answer differently and a response mixing
    them cannot pass for either."""
    started = time.perf_counter()
    log = home / "reindex.log"
    command = ["reindex", "--reencode", *(["--retrain"] if retrain else [])]
    with log.open("wb") as out:
        proc = kgsearch(
            home, *command, env={"KGSEARCH_RECALL_K": str(NEW_RECALL_K)}, stdout=out, stderr=out
        )
        while proc.poll() is None:
            gevent.sleep(0.2)
    if proc.returncode != 0:
        raise RuntimeError(f"the reindex failed ({proc.returncode}): {log.read_text()[-2000:]}")
    seconds = time.perf_counter() - started
    gevent.sleep(3)  # searches after the switch, on the new version
    return {"reindex_s": round(seconds, 1)}


def mixed_answers(
    before: dict[str, tuple[str, tuple[Any, ...]]], after: dict[str, tuple[str, tuple[Any, ...]]]
) -> dict[str, Any]:
    """Responses of the reindex phase that are not exactly their named version's answer."""
    expected = {**{(q, v): h for q, (v, h) in before.items()}}
    expected.update({(q, v): h for q, (v, h) in after.items()})
    seen = ANSWERS.seen["reindex"]
    wrong = [(q, v) for q, v, h in seen if expected.get((q, v)) != h]
    versions = sorted({v for _, v, _ in seen})
    return {
        "responses_checked": len(seen),
        "versions_seen": versions,
        "responses_per_version": {v: sum(1 for _, x, _ in seen if x == v) for v in versions},
        "queries_whose_answer_changed": sum(1 for q in QUERIES if before[q][1] != after[q][1]),
        "mixed_or_unknown": len(wrong),
        "examples": wrong[:5],
    }


@dataclass
class Edits:
    """The acknowledged edits: product -> [(version after, price)]."""

    acked: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    conflicts: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)


def edit_phase(url: str, key: str, ids: list[str], n: int, editors: int) -> Edits:
    """``n`` price edits by ``editors`` concurrent clients: read the version, PATCH with it;
    a 409 (someone else's edit came first) is read again and retried. Each edit sets a
    price no other edit sets, so the change log entry of each is unambiguous."""
    edits = Edits()
    headers = {HEADER: key}

    def one(i: int) -> None:
        pid = ids[i % len(ids)]
        price = round(1000 + i / 100, 2)
        with requests.Session() as s:
            for _ in range(50):
                got = s.get(f"{url}/catalog/products/{pid}", headers=headers, timeout=120)
                if got.status_code != 200:
                    edits.failures.append(f"GET {pid}: {got.status_code} {got.text[:200]}")
                    return
                started = time.perf_counter()
                r = s.patch(
                    f"{url}/catalog/products/{pid}",
                    json={"expected_version": got.json()["version"], "price": price},
                    headers=headers,
                    timeout=120,
                )
                if r.status_code == 409:
                    edits.conflicts += 1
                    continue
                if r.status_code != 200:
                    edits.failures.append(f"PATCH {pid}: {r.status_code} {r.text[:200]}")
                    return
                edits.latencies_ms.append((time.perf_counter() - started) * 1000)
                edits.acked[pid].append((r.json()["version"], price))
                return
            edits.failures.append(f"PATCH {pid}: still conflicting after 50 tries")

    gevent.pool.Pool(editors).map(one, range(n))
    return edits


def lost_edits(home: Path, edits: Edits) -> dict[str, Any]:
    """Acknowledged edits missing from the change log, and products whose stored version
    or price is not their last acknowledged edit's (the server is stopped by now)."""
    engine = Engine(Settings(home=home))
    try:
        store = engine.graph
        logged = {
            (c.entity_id, (c.after or {}).get("price"))
            for c in store.changes(since=0)
            if c.op == "update"
        }
        missing_log, wrong_state = [], []
        for pid, acked in edits.acked.items():
            eid = f"product:{pid}"
            missing_log += [(pid, p) for _, p in acked if (eid, p) not in logged]
            version, price = max(acked)
            entity = store.get(eid)
            got = None if entity is None else (entity.version, entity.properties.get("price"))
            if got != (version, price):
                wrong_state.append({"product": pid, "expected": (version, price), "got": got})
        return {
            "acknowledged": sum(len(a) for a in edits.acked.values()),
            "missing_from_change_log": len(missing_log),
            "wrong_final_state": len(wrong_state),
            "examples": [*missing_log[:3], *wrong_state[:3]],
        }
    finally:
        engine.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tiny", choices=["tiny", "demo"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--editors", type=int, default=8)
    parser.add_argument("--baseline-s", type=float, default=10)
    parser.add_argument("--retrain", action="store_true", help="Retrain the rankers too.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="kgsearch-load-"))
    shutil.copytree(built_home(args.size), home, dirs_exist_ok=True)
    key = KeyStore(path=home / "api_keys.json").create(
        user="load", role=Role.EDITOR, created_by="load-bench"
    )
    engine = Engine(Settings(home=home))
    QUERIES.extend(q.text for q in engine.judged()[:40])
    ids = sorted(e.id.removeprefix("product:") for e in engine.graph.entities(EntityKind.PRODUCT))
    engine.close()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_log = (home / "server.log").open("wb")
    server = kgsearch(
        home, "serve", "--port", str(port), "--workers", "1", stdout=server_log, stderr=server_log
    )
    try:
        wait_warm(url)
        env = Environment(user_classes=[Shopper], host=url)
        env.create_local_runner()
        report: dict[str, Any] = {
            "size": args.size,
            "products": len(ids),
            "queries": len(QUERIES),
            "clients": args.clients,
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        }
        report["baseline"] = phase(
            env, "baseline", args.clients, lambda: gevent.sleep(args.baseline_s)
        )
        before = answers_now(url)
        report["reindex"] = phase(
            env, "reindex", args.clients, lambda: reindex_phase(home, retrain=args.retrain)
        )
        after = answers_now(url)
        report["reindex"]["versions"] = mixed_answers(before, after)

        edits: list[Edits] = []
        report["edits"] = phase(
            env,
            "edits",
            args.clients,
            lambda: edits.append(edit_phase(url, key.key, ids, args.edits, args.editors)),
        )
        done = edits[0]
        report["edits"]["edit_requests"] = {
            "edits": args.edits,
            "editors": args.editors,
            "acknowledged": sum(len(a) for a in done.acked.values()),
            "conflicts_retried": done.conflicts,
            "failures": len(done.failures),
            "failure_examples": done.failures[:5],
            "patch_p50_ms": percentile(done.latencies_ms, 0.5) if done.latencies_ms else None,
            "patch_p99_ms": percentile(done.latencies_ms, 0.99) if done.latencies_ms else None,
        }
        report["edits"]["versions_seen"] = sorted({v for _, v, _ in ANSWERS.seen["edits"]})
    finally:
        server.terminate()
        server.wait(timeout=60)
        server_log.close()
    report["edits"]["lost"] = lost_edits(home, done)

    report["ok"] = {
        "zero_failed_requests": all(
            report[p]["failures"] == 0 for p in ("baseline", "reindex", "edits")
        )
        and not done.failures,
        "zero_mixed_versions": report["reindex"]["versions"]["mixed_or_unknown"] == 0,
        "zero_lost_edits": report["edits"]["lost"]["missing_from_change_log"] == 0
        and report["edits"]["lost"]["wrong_final_state"] == 0
        and report["edits"]["edit_requests"]["acknowledged"] == args.edits,
    }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    shutil.rmtree(home, ignore_errors=True)
    return 0 if all(report["ok"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
