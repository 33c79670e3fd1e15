"""The official EBU loudness test signals (shared/ebu) against EXPECTED.tsv, read through measure_file.

Besides the official tolerances, a few files are pinned at ±0.002 to the exact readings of METERING.md
§5.3–5.4 (libebur128-style K-weighting, Hann-49 4x true peak).
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import pytest

from gainstager.errors import AudioError
from gainstager.measure import measure_file, measure_files
from gainstager.model import FileLevels

from .conftest import EBU

EXPECTED = EBU / "EXPECTED.tsv"


def _rows() -> list[object]:
    if not EXPECTED.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{EXPECTED} not present"))]
    with EXPECTED.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [pytest.param(r, id=f"{r['file']}:{r['quantity']}") for r in rows]


@functools.cache
def _measured(name: str) -> FileLevels:
    return measure_file(str(EBU / name))


@pytest.mark.parametrize("row", _rows())
def test_expected_tsv(row: dict[str, str]) -> None:
    lv = _measured(row["file"]).levels
    value = getattr(lv, row["quantity"])
    expected = float(row["expected"])
    lo, hi = expected - float(row["tol_minus"]), expected + float(row["tol_plus"])
    assert lo <= value <= hi, f"{row['file']} {row['quantity']} = {value:.3f}; expected {lo}..{hi}"


PINNED = [
    ("seq-3341-1-16bit.wav", "integrated_lufs", -22.954),
    ("seq-3341-2-16bit.wav", "integrated_lufs", -32.960),
    ("seq-3341-12-24bit.wav", "momentary_max_lufs", -22.960),
    ("seq-3341-10-1-24bit.wav", "short_term_max_lufs", -22.993),
    ("seq-3341-10-2-24bit.wav", "short_term_max_lufs", -22.993),
    ("seq-3341-10-20-24bit.wav", "short_term_max_lufs", -22.993),
    ("seq-3341-13-1-24bit.wav", "momentary_max_lufs", -22.994),
    ("seq-3341-13-2-24bit.wav", "momentary_max_lufs", -22.994),
    ("seq-3341-13-20-24bit.wav", "momentary_max_lufs", -22.994),
    ("seq-3341-15-24bit.wav", "true_peak_dbtp", -6.000),
    ("seq-3341-16-24bit.wav", "true_peak_dbtp", -6.033),
    ("seq-3341-17-24bit.wav", "true_peak_dbtp", -5.985),
    ("seq-3341-18-24bit.wav", "true_peak_dbtp", -5.998),
    ("seq-3341-19-24bit.wav", "true_peak_dbtp", 2.977),
    ("seq-3341-20-24bit.wav", "true_peak_dbtp", -0.130),
    ("seq-3341-21-24bit.wav", "true_peak_dbtp", -0.086),
    ("seq-3341-22-24bit.wav", "true_peak_dbtp", -0.181),
    ("seq-3341-23-24bit.wav", "true_peak_dbtp", -0.086),
]


@pytest.mark.skipif(not EBU.is_dir(), reason=f"{EBU} not present")
@pytest.mark.parametrize(("name", "quantity", "value"), PINNED, ids=[f"{n}:{q}" for n, q, _ in PINNED])
def test_pinned_exact_readings(name: str, quantity: str, value: float) -> None:
    assert getattr(_measured(name).levels, quantity) == pytest.approx(value, abs=0.002)


@pytest.mark.skipif(not EBU.is_dir(), reason=f"{EBU} not present")
def test_file_facts() -> None:
    fl = _measured("seq-3341-1-16bit.wav")
    assert (fl.sample_rate_hz, fl.channels) == (48000, 2)
    assert fl.levels.duration_s == pytest.approx(20.0)
    assert fl.path.endswith("seq-3341-1-16bit.wav")
    assert not math.isnan(fl.levels.loudness_range_lu)


@pytest.mark.skipif(not EBU.is_dir(), reason=f"{EBU} not present")
def test_measure_files_keeps_order_and_survives_failures(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    names = [
        str(EBU / "seq-3341-13-1-24bit.wav"),
        str(junk),
        str(tmp_path / "missing.wav"),
        str(EBU / "seq-3341-13-2-24bit.wav"),
    ]
    results = list(measure_files(names, jobs=2))
    assert [type(r) for r in results] == [FileLevels, AudioError, AudioError, FileLevels]
    assert isinstance(results[0], FileLevels) and results[0].path == names[0]
    assert isinstance(results[3], FileLevels) and results[3].path == names[3]
    assert str(junk) in str(results[1])
    assert "missing.wav" in str(results[2])
    with pytest.raises(AudioError, match=r"junk\.wav"):
        measure_file(str(junk))
