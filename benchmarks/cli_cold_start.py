"""Cold-start times of the CLI: `kgsearch --help`, `kgsearch status` and a first
`kgsearch search` answer, each a fresh process, on a tiny index built in a temp home.

The index is the committed tiny catalogue (synthetic/data/tiny, ≈ 200 products) imported and
reindexed through the CLI (`kgsearch import` + `kgsearch reindex`); with its judged
queries beside it (the default) the reindex trains the learned rankers and the live
ranker is LambdaMART, as after `kgsearch demo`, so a search loads LightGBM as well as
torch and the MiniLM encoder. `--no-judgments` builds the `linear` default instead.

Each command runs `--runs` times; reported are the medians of the time to the answer (the
first byte on stdout) and of the time to the exit (which, with torch loaded, adds most of
a second of process teardown on this VM, `os._exit` included). Two bytecode modes:

- ``cached``: every module's compiled bytecode cached (what an installed package has
  after its first run), in a private ``PYTHONPYCACHEPREFIX`` filled by one untimed run;
- ``uncached``: ``PYTHONDONTWRITEBYTECODE=1`` and only the caches the environment already
  has: the standard library's; a venv installed by uv without ``--compile-bytecode`` and
  run with that variable set (as here) has none, so every import of torch, transformers,
  LightGBM... compiles its source on every run. The JSON records how many ``.pyc``
  files the venv's site-packages hold.

The search runs with each encoder runtime (``KGSEARCH_ENCODER_RUNTIME=torch`` and
``onnx``, the ONNX model already exported into the default model cache by the reindex),
interleaved in the same run. ``--breakdown-runs`` more processes per runtime then time
the stages of a search one by one (cached bytecode; medians).

The OS file cache is warm either way (only the Python process is cold). Prints a
Markdown table and writes benchmarks/results/cli-cold-start.json.

    python benchmarks/cli_cold_start.py [--runs 5] [--modes cached,uncached] [--no-judgments]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "synthetic" / "data" / "tiny"
QUERY = "blue velvet sofa"


def kgsearch() -> list[str]:
    """The venv's console script if there is one beside this Python, else `python -m app`."""
    script = Path(sys.executable).with_name("kgsearch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app"]


COMMANDS: dict[str, list[str]] = {
    "import app.cli": [sys.executable, "-c", "import app.cli; print(1)"],
    "kgsearch --help": [*kgsearch(), "--help"],
    "kgsearch status": [*kgsearch(), "status"],
}
#: The search runs once per encoder runtime (KGSEARCH_ENCODER_RUNTIME), same index.
RUNTIMES = ("torch", "onnx")
for _runtime in RUNTIMES:
    COMMANDS[f"kgsearch search {QUERY!r} ({_runtime})"] = [
        "env",
        f"KGSEARCH_ENCODER_RUNTIME={_runtime}",
        *kgsearch(),
        "search",
        QUERY,
        "--k",
        "10",
    ]

#: One process, stage by stage, in the order `kgsearch search` meets them.
BREAKDOWN = f"""
import json, sys, time
t = time.perf_counter(); stages = {{}}
def mark(name):
    global t
    now = time.perf_counter(); stages[name] = round(now - t, 3); t = now
import app.cli
from app.engine import Engine
from app.settings import Settings
engine = Engine(Settings()); mark("CLI, settings, engine")
import lightgbm; mark("LightGBM (scikit-learn, SciPy, pandas)")
if engine.settings.encoder_runtime == "torch":
    import torch; mark("torch")
    import transformers; mark("transformers")
else:
    import onnxruntime, tokenizers; mark("onnxruntime + tokenizers")
engine.encoder.encode(["warm up"]); mark("encoder: load, first encode")
service, _ = engine.service(); mark("open the live version")
service.search({QUERY!r}, k=10); mark("the search")
print(json.dumps(stages))
"""


def environment(home: Path, mode: str, cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KGSEARCH_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",  # the answer reaches the pipe when it is printed, not at exit
    )
    env.pop("KGSEARCH_LOG_LEVEL", None)
    if mode == "uncached":
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def site_packages_pyc() -> int:
    import sysconfig

    return sum(1 for _ in Path(sysconfig.get_paths()["purelib"]).rglob("*.pyc"))


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds until the first byte of the answer on stdout, and until the process exited."""
    started = time.perf_counter()
    with subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        first = process.stdout.read(1)
        answered = time.perf_counter() - started
        out, err = process.communicate()
        exited = time.perf_counter() - started
    if process.returncode != 0 or not first:
        raise RuntimeError(f"{argv} exited {process.returncode}:\n{first + out!r}\n{err!r}")
    return answered, exited


def build_index(home: Path, *, judgments: bool, cache: Path) -> dict[str, Any]:
    env = environment(home, "cached", cache)
    if judgments:
        shutil.copytree(TINY, home / "catalogue")
    started = time.perf_counter()
    for args in (["import", str(TINY / "product.csv")], ["reindex"]):
        subprocess.run([*kgsearch(), "--quiet", *args], env=env, cwd=ROOT, check=True)
    live = json.loads((home / "index" / "LIVE").read_text())["live"]
    manifest = json.loads((home / "index" / "versions" / live / "manifest.json").read_text())
    return {
        "products": manifest["products"],
        "default_ranker": manifest["default_ranker"],
        "build_seconds": round(time.perf_counter() - started, 1),
    }


def summary(times: list[tuple[float, float]]) -> dict[str, Any]:
    answered, exited = [t[0] for t in times], [t[1] for t in times]
    return {
        "answer_median_s": round(statistics.median(answered), 2),
        "answer_min_s": round(min(answered), 2),
        "answer_max_s": round(max(answered), 2),
        "exit_median_s": round(statistics.median(exited), 2),
        "answer_runs": [round(t, 2) for t in answered],
        "exit_runs": [round(t, 2) for t in exited],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", default="cached,uncached", help="cached and/or uncached")
    parser.add_argument("--no-judgments", action="store_true", help="linear, not LambdaMART")
    parser.add_argument("--breakdown-runs", type=int, default=3, help="stage timings per runtime")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cli-cold-start.json")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"cached", "uncached"}:
        parser.error("--modes takes cached and/or uncached")

    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kgsearch-cold-") as tmp:
        home, cached = Path(tmp) / "home", Path(tmp) / "pycache"
        index = build_index(home, judgments=not args.no_judgments, cache=cached)
        for mode in modes:
            env = environment(home, mode, cached)
            if mode == "cached":
                for argv in COMMANDS.values():  # fill the bytecode cache, untimed
                    run(argv, env)
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
            for _ in range(args.runs):  # interleaved, so a burst of load hits all alike
                for name, argv in COMMANDS.items():
                    times[name].append(run(argv, env))
            results[mode] = {name: summary(ts) for name, ts in times.items()}
        breakdown: dict[str, dict[str, float]] = {}
        env = environment(home, "cached", cached)
        for runtime in RUNTIMES if args.breakdown_runs else ():
            runs = []
            for _ in range(args.breakdown_runs):
                done = subprocess.run(
                    [sys.executable, "-c", BREAKDOWN],
                    env={**env, "KGSEARCH_ENCODER_RUNTIME": runtime},
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            breakdown[runtime] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}

    report = {
        "index": {"catalogue": "synthetic/data/tiny", **index},
        "runs": args.runs,
        "seconds": results,
        "breakdown_cached_median_s": breakdown,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "site_packages_pyc_files": site_packages_pyc(),
            "load_average_1m_before_after": [
                round(load_before[0], 2),
                round(os.getloadavg()[0], 2),
            ],
        },
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"| command | {' | '.join(f'{m} bytecode: answer (min-max), exit' for m in modes)} |")
    print(f"|---|{'---|' * len(modes)}")
    for name in COMMANDS:
        cells = " | ".join(
            f"{r['answer_median_s']:.2f} s ({r['answer_min_s']:.2f}-{r['answer_max_s']:.2f}), "
            f"{r['exit_median_s']:.2f} s"
            for r in (results[m][name] for m in modes)
        )
        print(f"| `{name}` | {cells} |")
    for runtime, stages in breakdown.items():
        print(f"{runtime}: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    print(json.dumps(report["machine"] | {"index": report["index"]}))


if __name__ == "__main__":
    main()
