"""Shared test helpers: where the real sessions and EBU signals are, when ../shared exists."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
EBU = SHARED / "ebu"


def corpus_files(kind: str) -> list[Path]:
    """The real sessions of one kind ("rpp" or "als"); empty when ../shared is not there."""
    folder = CORPUS / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == f".{kind}")


def corpus_params(kind: str) -> list[object]:
    """pytest parameters over the corpus, or one skipped parameter saying why there are none."""
    files = corpus_files(kind)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CORPUS / kind} not present"))]
    return [pytest.param(p, id=p.name) for p in files]
