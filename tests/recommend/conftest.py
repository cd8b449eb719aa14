"""Fixtures for the recommendation tests: the checked-in Last.FM sample (150 users) and,
for the few tests that hold the full data set's counts, the shared copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recommend.datasets.lastfm import LastFMKG, find_lastfm_kg, load_lastfm_kg

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "lastfm-kg-sample"
REPO = Path(__file__).resolve().parents[2]


def find_full_lastfm() -> Path | None:
    """$KGSEARCH_LASTFM_KG, else ``shared/`` beside the repository, else /work/shared."""
    return find_lastfm_kg(
        [
            os.environ.get("KGSEARCH_LASTFM_KG", ""),
            REPO.parent / "shared" / "data" / "lastfm-kg",
            "/work/shared/data/lastfm-kg",
        ]
    )


@pytest.fixture(scope="session")
def sample() -> LastFMKG:
    return load_lastfm_kg(SAMPLE)


@pytest.fixture(scope="session")
def full_lastfm() -> LastFMKG:
    """The full Last.FM KG data. Missing: skip with where to put it; in CI (``CI=true``),
    fail — CI reads it from ../shared and must never skip silently."""
    folder = find_full_lastfm()
    if folder is None:
        message = (
            "the Last.FM KG data set is not available: set KGSEARCH_LASTFM_KG to its folder "
            "or place it at ../shared/data/lastfm-kg (user_artists.dat, "
            "item_index2entity_id.txt, kg.txt)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return load_lastfm_kg(folder)
