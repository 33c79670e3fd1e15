"""Measure what the renderer still approximates: the numbers behind README.md's table.

Run from the repository root: ``python bench/approximations.py``. It needs ../shared/corpus for the corpus
figures (skipped without it) and prints:

* the time-stretch against its own definition on synthetic signals (tones, noise, sparse noise bursts) at
  0.7253x, 1.37x and 2x: ungated RMS (independent of the time scale, so the fair comparison for a stretch)
  and true peak, stretched minus the source region it plays;
* how many corpus REAPER fades have a non-linear shape, and the most a clip's level can move if such a fade
  is rendered linear (any curve between 0 and 1, stationary audio: the fade's energy can be off by between
  -1/3 and +2/3 of its length);
* the range of the corpus's automated track volumes (the master prediction counts an envelope at its top);
* how much of the corpus the prediction leaves out (plug-ins, sends, returns, instrument tracks) and how many
  playing clips are stretched.
"""

from __future__ import annotations

import gzip
import math
import sys
from pathlib import Path

import numpy as np
from lxml import etree

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gainstager import parsers, render  # noqa: E402
from gainstager.meters import Meter  # noqa: E402
from gainstager.model import TrackKind  # noqa: E402
from gainstager.resample import Stretcher  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
RATE = 48000


def levels(x: np.ndarray) -> tuple[float, float]:
    meter = Meter(RATE, 1)
    meter.feed(np.ascontiguousarray(x[:, None], dtype=np.float32))
    lv = meter.result()
    return lv.rms_dbfs, lv.true_peak_dbtp


def stretch_errors() -> None:
    rng = np.random.default_rng(2)
    n = RATE * 20
    t = np.arange(n) / RATE
    signals = {
        "tone": 0.3 * np.sin(2 * np.pi * 220 * t),
        "noise": 0.1 * rng.standard_normal(n),
        "bursts": 0.3 * rng.standard_normal(n) * ((t * 2) % 1 < 0.1),  # 50 ms every 500 ms
    }
    print("time-stretch, stretched minus source region (dB):")
    for rate in (0.7253, 1.37, 2.0):
        for name, x in signals.items():
            src = x.astype(np.float32)[:, None]
            pos = 0

            def source(count: int, src: np.ndarray = src) -> np.ndarray:
                nonlocal pos
                out = np.zeros((count, 1), dtype=np.float32)
                part = src[pos : pos + count]
                out[: len(part)] = part
                pos += count
                return out

            out_frames = int(8.0 * RATE / rate)
            y = Stretcher(source, rate, 1).read(out_frames)[:, 0]
            (rms_y, tp_y), (rms_x, tp_x) = levels(y), levels(x[: int(out_frames * rate)])
            print(f"  {rate:6.4f}x {name:7s} RMS {rms_y - rms_x:+.3f}  true peak {tp_y - tp_x:+.3f}")


def fade_bounds() -> None:
    bounds: list[float] = []
    total = 0
    for path in sorted((CORPUS / "rpp").iterdir()):
        if path.suffix.lower() != ".rpp":
            continue
        length = 0.0
        for raw in path.read_bytes().split(b"\n"):
            tokens = raw.split()
            if not tokens:
                continue
            if tokens[0] == b"LENGTH" and len(tokens) > 1:
                length = float(tokens[1])
            elif tokens[0] in (b"FADEIN", b"FADEOUT") and len(tokens) >= 3 and length > 0:
                auto = float(tokens[3]) if len(tokens) > 3 else 0.0
                fade = auto if auto > 0 else float(tokens[2])
                if fade <= 0:
                    continue
                total += 1
                curvature = float(tokens[6]) if len(tokens) > 6 else 0.0
                if round(float(tokens[1])) != 0 or curvature != 0:
                    bounds.append(10 * math.log10(1 + 2 / 3 * min(fade / length, 1.0)))
    a = np.array(bounds)
    print(f"REAPER fades: {len(a)} of {total} non-linear; level bound median {np.median(a):.4f} dB, "
          f"95th percentile {np.percentile(a, 95):.3f} dB, max {a.max():.2f} dB")


def envelope_ranges() -> None:
    ranges: list[float] = []
    for path in sorted((CORPUS / "als").glob("*.als")):
        data = path.read_bytes()
        xml = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        root = etree.fromstring(xml, etree.XMLParser(huge_tree=True))
        for track in root.iter("AudioTrack", "MidiTrack", "GroupTrack", "ReturnTrack"):
            volume = track.find("DeviceChain/Mixer/Volume")
            target = volume.find("AutomationTarget") if volume is not None else None
            values: list[float] = []
            for env in track.findall("AutomationEnvelopes/Envelopes/AutomationEnvelope"):
                pointee = env.find("EnvelopeTarget/PointeeId")
                if target is not None and pointee is not None and pointee.get("Value") == target.get("Id"):
                    values = [float(e.get("Value", "0")) for e in env.findall("Automation/Events/FloatEvent")]
            if not values and volume is not None:
                values = [float(e.get("Value", "0")) for e in volume.findall("ArrangerAutomation/Events/FloatEvent")]
            values = [v for v in values if v > 0.0003163]
            if len(values) > 1 and max(values) > min(values):
                ranges.append(20 * math.log10(max(values) / min(values)))
    a = np.array(ranges)
    print(f"Live automated faders: {len(a)}, range median {np.median(a):.1f} dB, max {a.max():.1f} dB")


def coverage() -> None:
    counts = {"sessions": 0, "tracks": 0, "plug-ins": 0, "sends": 0, "returns": 0, "instrument": 0}
    clips = stretched = 0
    for path in sorted(p for kind in ("rpp", "als") for p in (CORPUS / kind).iterdir() if p.suffix != ".tsv"):
        data = path.read_bytes()
        try:
            session, _ = parsers.detect(data, str(path)).parse(data, str(path))
        except Exception:  # the deliberately truncated corpus file
            continue
        counts["sessions"] += 1
        counts["tracks"] += len(session.tracks)
        counts["plug-ins"] += sum(t.has_fx for t in session.tracks)
        counts["sends"] += sum(t.sends for t in session.tracks)
        counts["returns"] += sum(t.kind is TrackKind.RETURN for t in session.tracks)
        counts["instrument"] += sum(t.kind is TrackKind.MIDI for t in session.tracks)
        playing = [c for c in session.clips if render.plays(c)]
        clips += len(playing)
        stretched += sum(c.stretch and any(abs(s.rate - 1) > 1e-9 for s in c.segments) for c in playing)
    print(f"corpus: {counts}; playing clips {clips}, stretched {stretched}")


if __name__ == "__main__":
    stretch_errors()
    if CORPUS.is_dir():
        fade_bounds()
        envelope_ranges()
        coverage()
    else:
        print(f"{CORPUS} not present: corpus figures skipped")
