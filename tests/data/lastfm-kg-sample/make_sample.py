"""Rebuild this sample from the full data: ``python make_sample.py /path/to/lastfm-kg``.

150 users drawn with a fixed seed among those with at least one pair on a graph artist,
all their pairs on graph artists, those artists' rows of item_index2entity_id.txt, and
every kg.txt triple that touches one of those artists' entities. Same file formats as the
full release (tab-separated; user_artists.dat keeps its header)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

USERS = 150
SEED = 12


def main(source: Path, target: Path) -> None:
    mapping = dict(
        line.split("\t")
        for line in (source / "item_index2entity_id.txt").read_text().split("\n")
        if line
    )
    lines = (source / "user_artists.dat").read_text().split("\n")
    header, rows = lines[0], [line.split("\t") for line in lines[1:] if line]
    rows = [r for r in rows if r[1] in mapping]
    users = sorted({r[0] for r in rows}, key=int)
    chosen = set(np.random.default_rng(SEED).choice(users, USERS, replace=False).tolist())
    kept = [r for r in rows if r[0] in chosen]
    artists = {r[1] for r in kept}
    entities = {mapping[a] for a in artists}
    triples = [
        line
        for line in (source / "kg.txt").read_text().split("\n")
        if line and (line.split("\t")[0] in entities or line.split("\t")[2] in entities)
    ]
    target.mkdir(parents=True, exist_ok=True)
    (target / "user_artists.dat").write_text(
        "\n".join([header, *("\t".join(r) for r in kept)]) + "\n"
    )
    (target / "item_index2entity_id.txt").write_text(
        "".join(f"{a}\t{mapping[a]}\n" for a in sorted(artists, key=int))
    )
    (target / "kg.txt").write_text("\n".join(triples) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent)
