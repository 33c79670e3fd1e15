"""The lasting measurement cache (cache.py) as the pipeline and the command line use it: an unchanged session is
not measured (nor decoded) again, a sample shared by projects is measured once, also by processes running at
the same time, anything that changes what plays is measured again, and a damaged or foreign cache is rebuilt
without the user noticing more than a note. Every test has a cache directory of its own (conftest.py)."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import audio, cache, cache_codec, pipeline, schema
from gainstager.audio import write
from gainstager.plan import Policy
from tests.conftest import REPO, cli, invoke

RATE = 48000


def noise(path: Path, seconds: float, level: float, seed: int) -> np.ndarray:
    x = (level * np.random.default_rng(seed).standard_normal((int(seconds * RATE), 1))).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(str(path), x, RATE, subtype="FLOAT")
    return x


def project(path: Path, tracks: list[TrackSpec]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_project(ProjectSpec(tracks, sample_rate_hz=RATE)))
    return path


def song(folder: Path, sample: Path, other: Path, *, gain: float = 1.0, fade_s: float = 0.0) -> Path:
    """Two tracks: one plays `sample` (twice: the same region at two places, and a second region), the other
    plays `other`; a folder sums them."""
    return project(
        folder / "song.rpp",
        [
            TrackSpec("Bus", isbus=(1, 1)),
            TrackSpec(
                "Shared",
                [
                    ItemSpec(str(sample), 0.0, 1.0, take_volume=gain, fade_out_s=fade_s),
                    ItemSpec(str(sample), 2.0, 1.0, take_volume=gain, fade_out_s=fade_s),
                    ItemSpec(str(sample), 3.5, 0.5, soffs_s=1.0),
                ],
            ),
            TrackSpec("Own", [ItemSpec(str(other), 0.0, 2.0)], isbus=(2, -1)),
        ],
    )


def analyze(path: Path, store: cache.MeasurementCache | None) -> pipeline.Analysis:
    return pipeline.analyze(pipeline.load(str(path)), Policy(), cache=store)


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(x.astype(np.float64) ** 2)))


def same_levels(a: pipeline.Analysis, b: pipeline.Analysis) -> None:
    assert a.clip_levels == b.clip_levels and a.track_levels == b.track_levels
    assert a.master_peak_before_dbfs == b.master_peak_before_dbfs
    assert a.master_peak_after_dbfs == b.master_peak_after_dbfs and a.edits == b.edits


def test_an_unchanged_session_is_neither_measured_nor_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise(tmp_path / "s.wav", 2.0, 0.1, 1)
    noise(tmp_path / "o.wav", 2.0, 0.3, 2)
    path = song(tmp_path, tmp_path / "s.wav", tmp_path / "o.wav")
    store = cache.open(str(tmp_path / "cache"))
    first = analyze(path, store)
    assert (first.regions.measured, first.regions.cached) == (3, 0)  # two regions of s.wav, one of o.wav
    opened: list[str] = []
    monkeypatch.setattr(audio.AudioReader, "__init__", lambda self, p, *a: opened.append(p))
    again = analyze(path, cache.open(str(tmp_path / "cache")))  # another run: a new cache object
    assert opened == []  # nothing decoded: the whole mix came from the cache
    assert (again.regions.measured, again.regions.cached) == (0, 3)
    same_levels(first, again)


def test_projects_sharing_a_sample_measure_it_once(tmp_path: Path) -> None:
    x = noise(tmp_path / "samples/s.wav", 2.0, 0.1, 1)
    noise(tmp_path / "a/o.wav", 2.0, 0.3, 2)
    noise(tmp_path / "b/o.wav", 2.0, 0.2, 3)
    store = cache.open(str(tmp_path / "cache"))
    a = analyze(song(tmp_path / "a", tmp_path / "samples/s.wav", tmp_path / "a/o.wav"), store)
    b = analyze(song(tmp_path / "b", tmp_path / "samples/s.wav", tmp_path / "b/o.wav"), store)
    assert (a.regions.measured, a.regions.cached) == (3, 0)
    assert (b.regions.measured, b.regions.cached) == (1, 2)  # only its own o.wav
    shared = [c.clip_id for c in b.session.clips if c.track_id == "track:1"]
    assert b.clip_levels[shared[0]].rms_dbfs == pytest.approx(rms_db(x[:RATE]), abs=1e-6)


@pytest.mark.parametrize("change", ["gain", "fade"])
def test_what_changes_what_plays_is_measured_again(tmp_path: Path, change: str) -> None:
    noise(tmp_path / "s.wav", 2.0, 0.1, 1)
    noise(tmp_path / "o.wav", 2.0, 0.3, 2)
    store = cache.open(str(tmp_path / "cache"))
    analyze(song(tmp_path, tmp_path / "s.wav", tmp_path / "o.wav"), store)
    changed = {"gain": {"gain": 0.5}, "fade": {"fade_s": 0.25}}[change]
    b = analyze(song(tmp_path, tmp_path / "s.wav", tmp_path / "o.wav", **changed), store)
    assert (b.regions.measured, b.regions.cached) == (1, 2)


def test_a_replaced_file_is_measured_again_even_with_its_size_and_time(tmp_path: Path) -> None:
    """Size and mtime alone would say "unchanged": a new inode (a file replaced, times preserved) or a rewrite
    too recent to trust the mtime is checked by content. The same content under a new inode is not measured."""
    sample, other = tmp_path / "s.wav", tmp_path / "o.wav"
    noise(sample, 2.0, 0.1, 1)
    noise(other, 2.0, 0.3, 2)
    old = os.stat(sample)
    path = song(tmp_path, sample, other)
    store = cache.open(str(tmp_path / "cache"))
    analyze(path, store)
    # the same bytes copied over it (a new inode, the old times): no new measurement
    shutil.copy2(sample, tmp_path / "copy.wav")
    os.replace(tmp_path / "copy.wav", sample)
    os.utime(sample, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert analyze(path, cache.open(str(tmp_path / "cache"))).regions.measured == 0
    # other content, same size and times, a new inode: measured again, and right
    y = noise(tmp_path / "new.wav", 2.0, 0.4, 7)
    os.replace(tmp_path / "new.wav", sample)
    os.utime(sample, ns=(old.st_atime_ns, old.st_mtime_ns))
    b = analyze(path, cache.open(str(tmp_path / "cache")))
    assert b.regions.measured == 2
    first = next(c.clip_id for c in b.session.clips if c.track_id == "track:1")
    assert b.clip_levels[first].rms_dbfs == pytest.approx(rms_db(y[:RATE]), abs=1e-6)
    # rewritten in place (same inode, size and mtime) right after: too recent to trust the time
    z = noise(sample, 2.0, 0.05, 8)
    os.utime(sample, ns=(old.st_atime_ns, old.st_mtime_ns))
    c = analyze(path, cache.open(str(tmp_path / "cache")))
    assert c.regions.measured == 2
    assert c.clip_levels[first].rms_dbfs == pytest.approx(rms_db(z[:RATE]), abs=1e-6)


def test_junk_in_the_cache_directory_is_rebuilt_never_an_error(tmp_path: Path) -> None:
    noise(tmp_path / "s.wav", 2.0, 0.1, 1)
    noise(tmp_path / "o.wav", 2.0, 0.3, 2)
    path = song(tmp_path, tmp_path / "s.wav", tmp_path / "o.wav")
    folder = tmp_path / "cache"
    reference = cli("analyze", str(path), "--json", "--no-cache")
    assert reference.returncode == 0 and not folder.exists()  # --no-cache writes nothing
    assert cli("analyze", str(path), "--json", "--cache-dir", str(folder)).returncode == 0
    store = folder / cache.STORE
    rng = np.random.default_rng(5)
    for f in store.rglob("*"):
        if f.is_file():
            f.write_bytes(rng.bytes(4096))  # the database and every value file: junk
    (folder / "unrelated.txt").write_text("not ours")
    runs = [cli("analyze", str(path), "--json", "--cache-dir", str(folder)) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    docs = [json.loads(run.stdout) for run in (reference, *runs)]
    assert docs[1]["clips"] == docs[0]["clips"] and docs[1]["master"] == docs[0]["master"]
    assert any("rebuilt" in note for note in docs[1]["notes"])
    assert docs[1]["regions"] == {"measured": 3, "cached": 0}
    assert docs[2]["regions"] == {"measured": 0, "cached": 3} and docs[2]["clips"] == docs[0]["clips"]
    assert (folder / "unrelated.txt").read_text() == "not ours"  # only the store's own folder is rebuilt
    # the store's folder replaced by a file: rebuilt as well
    shutil.rmtree(store)
    store.write_bytes(b"junk")
    run = cli("analyze", str(path), "--json", "--cache-dir", str(folder))
    assert run.returncode == 0 and json.loads(run.stdout)["clips"] == docs[0]["clips"]


class _Trap:
    """Unpickling this creates a file: proof that a value was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


def test_a_foreign_entry_is_never_unpickled(tmp_path: Path) -> None:
    import diskcache

    store_path = tmp_path / "cache" / cache.STORE
    cache.open(str(tmp_path / "cache")).close()
    marker = tmp_path / "unpickled"
    with diskcache.Cache(str(store_path)) as foreign:
        foreign.set("clip:x", _Trap(marker))  # diskcache pickles it
        foreign.set("clip:y", pickle.dumps({"levels": [0.0] * 9}))  # bytes, but not our encoding
    store = cache.open(str(tmp_path / "cache"))
    assert store.get("clip:x") is None and store.get("clip:y") is None
    assert not marker.exists()
    store.put("clip:x", {"levels": [1.5, -math.inf]})
    assert store.get("clip:x") == {"levels": [1.5, -math.inf]}


def test_values_round_trip_and_damage_is_refused() -> None:
    value = {"a": [1.0, -math.inf, None, "x"], "peaks": np.arange(6, dtype=np.float16).reshape(3, 2), "n": 3}
    back = cache_codec.decode(cache_codec.encode(value))
    assert back["a"] == value["a"] and back["n"] == 3
    np.testing.assert_array_equal(back["peaks"], value["peaks"])
    assert back["peaks"].dtype == np.float16
    data = cache_codec.encode(value)
    for bad in (data[:-3], data[:10], b"", b"x" * 40, data.replace(cache_codec.MAGIC, b"other-program-mag")):
        with pytest.raises(ValueError):
            cache_codec.decode(bad)


SHARED_REGIONS = 4


def test_processes_running_at_once_measure_each_region_once(tmp_path: Path) -> None:
    """Three real processes analyse three projects that play the same four regions (and one of their own each),
    at the same time, with one cache: each region is measured by exactly one of them, and every process
    reports the levels a run without cache measures."""
    for i in range(SHARED_REGIONS):
        noise(tmp_path / f"samples/s{i}.wav", 6.0, 0.05 * (i + 1), 10 + i)
    paths = []
    for k in range(3):
        noise(tmp_path / f"p{k}/own.wav", 6.0, 0.2, 20 + k)
        tracks = [TrackSpec(f"S{i}", [ItemSpec(str(tmp_path / f"samples/s{i}.wav"), 0.0, 6.0)]) for i in range(4)]
        tracks.append(TrackSpec("Own", [ItemSpec(str(tmp_path / f"p{k}/own.wav"), 0.0, 6.0)]))
        paths.append(project(tmp_path / f"p{k}/song.rpp", tracks))
    env = dict(os.environ, GAINSTAGER_CACHE_DIR=str(tmp_path / "cache"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gainstager", "analyze", str(p), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for p in paths
    ]
    outs = [proc.communicate(timeout=300) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outs]
    docs = [json.loads(out) for out, _ in outs]
    assert sum(d["regions"]["measured"] for d in docs) == SHARED_REGIONS + 3
    assert all(d["regions"]["measured"] + d["regions"]["cached"] == SHARED_REGIONS + 1 for d in docs)
    for p, d in zip(paths, docs, strict=True):
        alone = json.loads(cli("analyze", str(p), "--json", "--no-cache").stdout)
        assert d["clips"] == alone["clips"] and d["tracks"] == alone["tracks"] and d["master"] == alone["master"]


def test_batch_sums_the_regions_and_measures_shared_ones_once(tmp_path: Path) -> None:
    noise(tmp_path / "samples/s.wav", 2.0, 0.1, 1)
    for k in range(2):
        noise(tmp_path / f"p{k}/o.wav", 2.0, 0.3, 2 + k)
        song(tmp_path / f"p{k}", tmp_path / "samples/s.wav", tmp_path / f"p{k}/o.wav")
    result = invoke("batch", str(tmp_path / "p0"), str(tmp_path / "p1"), "--dry-run", "--json", "-j", "2")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema.BATCH)
    # s.wav's two regions measured once, each project's own o.wav once; the other project takes s.wav's as cached
    assert (doc["totals"]["regions_measured"], doc["totals"]["regions_cached"]) == (4, 2)
    assert sorted(s["regions"]["measured"] for s in doc["sessions"]) in ([1, 3], [2, 2])


def test_cache_info_and_clear(tmp_path: Path) -> None:
    noise(tmp_path / "s.wav", 2.0, 0.1, 1)
    noise(tmp_path / "o.wav", 2.0, 0.3, 2)
    path = song(tmp_path, tmp_path / "s.wav", tmp_path / "o.wav")
    assert cache.directory() == os.environ["GAINSTAGER_CACHE_DIR"]  # tests never use the user's cache
    assert invoke("analyze", str(path)).returncode == 0
    info = invoke("cache", "info", "--json")
    assert info.returncode == 0
    doc = json.loads(info.stdout)
    jsonschema.validate(doc, schema.CACHE_INFO)
    assert doc["cache"]["directory"] == os.environ["GAINSTAGER_CACHE_DIR"] and doc["cache"]["entries"] > 3
    cleared = invoke("cache", "clear")
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert json.loads(invoke("cache", "info", "--json").stdout)["cache"]["entries"] == 0
    text = invoke("cache", "info", "--cache-dir", str(tmp_path / "elsewhere"))
    assert text.returncode == 0 and str(tmp_path / "elsewhere") in text.stdout


def test_help_and_measure_import_neither_the_pipeline_nor_the_cache(tmp_path: Path) -> None:
    noise(tmp_path / "s.wav", 1.0, 0.1, 1)
    heavy = ("diskcache", "platformdirs", "soxr", "lxml", "sqlite3", "gainstager.pipeline", "gainstager.mix")
    code = (
        "import sys\n"
        "from gainstager import cli\n"
        "sys.argv = ['gainstager', *sys.argv[1:]]\n"
        "try:\n    cli.app()\nexcept SystemExit:\n    pass\n"
        f"print([m for m in sys.modules if m.startswith({heavy!r})])\n"
    )
    for args in (["--help"], ["measure", str(tmp_path / "s.wav")]):
        run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().splitlines()[-1] == "[]", (args, run.stdout[-300:])


def test_check_measures_through_the_cache_too(tmp_path: Path) -> None:
    noise(tmp_path / "s.wav", 2.0, 0.1, 1)
    noise(tmp_path / "o.wav", 2.0, 0.3, 2)
    path = song(tmp_path, tmp_path / "s.wav", tmp_path / "o.wav")
    assert invoke("check", str(path), "--cache-dir", str(tmp_path / "used")).returncode in (0, 1)
    assert (tmp_path / "used" / cache.STORE).is_dir()
    assert invoke("check", str(path), "--no-cache", "--cache-dir", str(tmp_path / "unused")).returncode in (0, 1)
    assert not (tmp_path / "unused").exists()
