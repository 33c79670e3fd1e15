"""Mixing on every format: which tracks reach the master (mute, routing, folders; solo is ignored) and at what
gain, checked on the predicted master peak against the peak computed here from the signals' definition.

The renderer applies the pan law at every stereo sum a track passes (its own pan, then each folder's), so a
centred mono track in a folder plays at twice the pan law (render.py; 0 dB in the REAPER projects built here,
-3 dB in Live)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.scenario import FORMAT_IDS, FORMATS, Clip, Scenario, Track, build, media_folder
from gainstager import pipeline
from gainstager.audio import write
from gainstager.plan import Policy

formats = pytest.mark.parametrize(("fmt", "version"), FORMATS, ids=FORMAT_IDS)
RATE = 48000
PEAK_DBFS = -20.0  # every test tone peaks here; all are in phase, so audible tracks add up sample by sample


def tone(root: Path, fmt: str, name: str = "tone.wav") -> None:
    t = np.arange(2 * RATE) / RATE
    x = 10 ** (PEAK_DBFS / 20) * np.sin(2 * np.pi * 250.0 * t)  # 250 Hz: a sample lands on every crest
    write(str(media_folder(root, fmt) / name), x[:, None].astype(np.float32), RATE, subtype="FLOAT")


def master_peak(root: Path, fmt: str, version: int, tracks: tuple[Track, ...]) -> tuple[float, float, float]:
    """(predicted master peak, expected peak of one centred top-level track at unity, the pan law): the centre
    of a mono track plays at the pan law (the gain at centre relative to hard-panned) on each side."""
    tone(root, fmt)
    a = pipeline.analyze(pipeline.load(str(build(Scenario(tracks), fmt, version, root))), Policy())
    return a.master_peak_before_dbfs, PEAK_DBFS + a.session.pan_law_db, a.session.pan_law_db


def playing(name: str, **kw: Any) -> Track:
    return Track(name, clips=(Clip("tone.wav", 0.0, 2.0),), **kw)


@formats
def test_every_audible_track_adds_to_the_master(tmp_path: Path, fmt: str, version: int) -> None:
    peak, one, _ = master_peak(tmp_path, fmt, version, (playing("A"), playing("B"), playing("C", fader_db=-6.0)))
    assert peak == pytest.approx(one + 20 * math.log10(2 + 10 ** (-6 / 20)), abs=0.01)


@formats
def test_muted_and_routed_away_tracks_leave_the_master(tmp_path: Path, fmt: str, version: int) -> None:
    tracks = (playing("A"), playing("Muted", muted=True), playing("Away", routed_away=True))
    peak, one, _ = master_peak(tmp_path, fmt, version, tracks)
    assert peak == pytest.approx(one, abs=0.01)


@formats
def test_solo_is_ignored_the_prediction_is_the_whole_mix(tmp_path: Path, fmt: str, version: int) -> None:
    """Solo is a listening aid: the master prediction is of the whole mix, and the report names the tracks
    that were soloed when the session was saved."""
    tone(tmp_path, fmt)
    bus = Track("Bus", folder=True, soloed=True)
    tracks = (playing("A", soloed=True), playing("B"), bus, playing("C", parent="Bus"))
    a = pipeline.analyze(pipeline.load(str(build(Scenario(tracks), fmt, version, tmp_path))), Policy())
    one, law = PEAK_DBFS + a.session.pan_law_db, a.session.pan_law_db
    expected = 20 * math.log10(2 * 10 ** (one / 20) + 10 ** ((one + law) / 20))  # C passes the folder's pan law
    assert a.master_peak_before_dbfs == pytest.approx(expected, abs=0.01)
    assert a.scope is not None and set(a.scope.soloed) == {"A", "Bus"}


@formats
def test_a_folder_fader_and_mute_apply_to_its_children(tmp_path: Path, fmt: str, version: int) -> None:
    bus = Track("Bus", folder=True, fader_db=-6.0)
    peak, one, law = master_peak(tmp_path / "fader", fmt, version, (bus, playing("A", parent="Bus", fader_db=-3.0)))
    assert peak == pytest.approx(one - 9.0 + law, abs=0.01)
    muted = Track("Bus", folder=True, muted=True)
    peak, _, _ = master_peak(tmp_path / "muted", fmt, version, (muted, playing("A", parent="Bus"), playing("B")))
    assert peak == pytest.approx(one, abs=0.01)  # only B
    peak, _, _ = master_peak(tmp_path / "silent", fmt, version, (muted, playing("A", parent="Bus")))
    assert peak == -math.inf
