"""Hostile inputs for gainstager: a seeded, deterministic corpus of more than 1,000 cases, generated, never committed.

Every case is a small folder: a session file (a REAPER .rpp or an Ableton Live .als, mutated or made hostile), the
audio it names when the case needs audio, and, for some, special files (a FIFO, a symlink to /dev/zero, a
directory, a symlink loop). Each case carries its class (see `CLASSES`) and a one-line description.

The cases derive from the real sessions in ../shared/corpus (when present) and from the project's own fixtures:
fixtures/rpp_factory.py, fixtures/als_factory.py and the demo in fixtures/demo (those come with generated audio, so
the mutations reach measurement, planning and writing, not only parsing).

    python tests/fuzz/generate.py OUT [--seed N] [--sample N] [--list]    # one folder per case + OUT/index.tsv

    from tests.fuzz.generate import cases
    for case in cases():                  # cheap: nothing is built until materialize()
        session = case.materialize(tmp_path / case.case_id)

Cases are built lazily, so listing them costs nothing; building one costs at most a second (a mutated copy of
the largest corpus set). The same seed gives the same bytes, always.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gzip
import io
import os
import random
import re
import struct
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: make `fixtures` and `tests` importable
    sys.path.insert(0, str(REPO))

from fixtures.als_factory import ClipSpec, make_set  # noqa: E402
from fixtures.als_factory import TrackSpec as AlsTrack  # noqa: E402
from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project  # noqa: E402
from gainstager.parsers import als  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
DEMO = REPO / "fixtures" / "demo"
DEFAULT_SEED = 20261128

CLASSES: dict[str, str] = {
    "truncation": "the file cut at a random byte (and, for gzip sets, the XML inside cut)",
    "bitflip": "random bits flipped",
    "insertion": "markup, quotes, NULs or junk inserted at random places",
    "random-bytes": "random bytes, bare or behind a valid-looking header",
    "empty-nul": "empty and blank files, NUL bytes at the start, inside, at the end",
    "re-encoding": "the same session re-encoded: UTF-16, UTF-32, Latin-1, with and without BOM",
    "huge-line": "one enormous line, token, attribute or text node",
    "deep-nesting": "blocks or elements nested thousands deep",
    "unbalanced": "blocks or tags opened and not closed, closed and not opened, mismatched",
    "number": "extreme and malformed numbers in every numeric field (1e308, nan, inf, -0, '1,5', 'abc', ...)",
    "entity": "XML entity tricks: billion laughs, XXE, DOCTYPE, parameter entities, undefined entities",
    "gzip": "gzip bombs, multi-member gzip, trailing garbage, bad CRC or size, header extras",
    "wrong-extension": "a session under another format's extension, upper case, none, .txt",
    "special-file": "a FIFO, a symlink to /dev/zero, a directory, a symlink loop, as session or as media",
    "media-path": "media paths outside the project: devices, /etc, ../.., UNC, drive letters, huge names",
    "hostile-audio": "corrupt headers, 2^31 frames claimed, 0 frames, NaN/inf samples, 32 channels, odd rates",
}


@dataclass(frozen=True, slots=True)
class Special:
    """A file that is not a regular file: ``fifo``, ``dir``, or ``symlink`` to `target`."""

    kind: str
    target: str = ""


Content = bytes | Special
Files = dict[str, Content]


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    cls: str  # a key of CLASSES
    description: str
    session: str  # path of the session inside the case folder
    build: Callable[[], Files]
    special: bool = False  # holds a FIFO, a device or a loop: run only in a subprocess, with a timeout

    def materialize(self, folder: Path) -> Path:
        """Write the case into `folder` (created) and return the session's path."""
        folder.mkdir(parents=True, exist_ok=True)
        for rel, content in self.build().items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif content.kind == "fifo":
                os.mkfifo(path)
            elif content.kind == "dir":
                path.mkdir(exist_ok=True)
            else:
                os.symlink(content.target, path)
        return folder / self.session


# ---------------------------------------------------------------------------------------------------- audio


def wav_bytes(data: np.ndarray, rate: int, subtype: str = "FLOAT") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, data, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def noise(seconds: float, rate: int, channels: int, rms_dbfs: float, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((round(seconds * rate), channels))
    return (x * 10 ** (rms_dbfs / 20)).astype(np.float32)


def riff_wav(
    *,
    fmt_tag: int = 1,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    data: bytes = b"",
    data_size: int | None = None,
) -> bytes:
    """A WAV built field by field, so that any header field can lie."""
    align = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH",
        fmt_tag,  # 1 = PCM, 3 = IEEE float
        channels,
        rate,  # sample rate
        (rate * align) & 0xFFFFFFFF,  # byte rate
        align & 0xFFFF,  # block align
        bits,  # bits per sample
    )
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", min(len(body), 0xFFFFFFFF)) + body


def aiff_claiming(frames: int, data: bytes) -> bytes:
    """An AIFF whose COMM chunk claims `frames` 16-bit mono frames at 16 kHz; SSND holds `data`."""
    rate = b"\x40\x0c\xfa\x00\x00\x00\x00\x00\x00\x00"  # 16000.0 as an 80-bit IEEE extended float
    comm = struct.pack(">hIh", 1, frames, 16) + rate  # channels, frames, bits, rate
    ssnd = struct.pack(">II", 0, 0) + data  # offset, block size, samples
    chunks = b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND" + struct.pack(">I", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">I", 4 + len(chunks)) + b"AIFF" + chunks


def pcm16(seconds: float, rate: int, seed: int) -> bytes:
    x = noise(seconds, rate, 1, -20.0, seed)
    return bytes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def float_wav_with(values: Sequence[float], *, dtype: str = "<f4", rate: int = 16000, seed: int = 7) -> bytes:
    """Half a second of float noise with `values` (NaN, inf, huge) written at a few places."""
    x = noise(0.5, rate, 1, -20.0, seed).astype(dtype)
    for i, v in enumerate(values):
        x[(i + 1) * len(x) // (len(values) + 2)] = v
    return riff_wav(fmt_tag=3, channels=1, rate=rate, bits=8 * x.dtype.itemsize, data=x.tobytes())


# ---------------------------------------------------------------------------------------------------- bases


@dataclass(frozen=True, slots=True)
class Base:
    """A session to mutate: its id, where the session sits in the case folder, and all its files."""

    name: str
    session: str
    files: Callable[[], Files]
    audio: bool = False
    gzipped: bool = False  # a Live set stored as gzip (mutated on its bytes and on the XML inside)

    @property
    def kind(self) -> str:
        return "als" if self.session.lower().endswith(".als") else "rpp"

    def data(self) -> bytes:
        content = self.files()[self.session]
        assert isinstance(content, bytes)
        return content

    def with_session(self, data: bytes, name: str | None = None) -> Files:
        files = dict(self.files())
        del files[self.session]
        files[name or self.session] = data
        return files


def _corpus_base(path: Path) -> Base:
    @functools.cache
    def files() -> Files:
        return {path.name: path.read_bytes()}

    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return Base(f"corpus-{path.stem[:40]}", path.name, files, gzipped=gzipped)


@functools.cache
def corpus_bases(root: Path = CORPUS) -> tuple[Base, ...]:
    """The real sessions, sorted; empty when ../shared/corpus is not there."""
    found: list[Path] = []
    for kind in ("rpp", "als"):
        folder = root / kind
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.suffix.lower() == f".{kind}")
    return tuple(_corpus_base(p) for p in found)


@functools.cache
def _rpp_media() -> Files:
    return {
        "media/a.wav": wav_bytes(noise(1.0, 16000, 1, -30.0, 1), 16000, "FLOAT"),
        "media/b.wav": wav_bytes(noise(1.0, 16000, 2, -12.0, 2), 16000, "PCM_16"),
        "media/c.wav": wav_bytes(noise(1.0, 16000, 1, -24.0, 3), 16000, "PCM_24"),
    }


@functools.cache
def _factory_rpp() -> Files:
    """Four tracks (one a folder), two loops, fades, a playrate, a linear volume envelope, 16 kHz audio."""
    project = ProjectSpec(
        sample_rate_hz=16000,
        extra_lines=['RECORD_PATH "media" ""'],
        tracks=[
            TrackSpec(
                "Drums",
                [
                    ItemSpec("media/a.wav", 0.0, 1.0),
                    ItemSpec("media/a.wav", 1.0, 2.0, loop=True, fade_in_s=0.1, fade_out_s=0.2, soffs_s=0.25),
                ],
                volume=0.8,
            ),
            TrackSpec("Bus", isbus=(1, 1), volume=0.5),
            TrackSpec("Keys", [ItemSpec("media/b.wav", 0.5, 1.0, take_volume=1.5, playrate=1.25)], pan=-0.3),
            TrackSpec(
                "Pad", [ItemSpec("media/c.wav", 0.0, 1.0)], automode=1, volenv=[(0.0, 0.5), (1.0, 1.0)], isbus=(2, -1)
            ),
        ],
        master_volume=0.8,
    )
    return {"song.rpp": make_project(project), **_rpp_media()}


# Multi-take items, an empty first take, a reversed SECTION, a receive and a master envelope, written the way
# REAPER 7 writes them (FORMAT-RPP.md §6-§8); LF line endings, as a third of the corpus has.
_HANDMADE_RPP = """<REAPER_PROJECT 0.1 "7.27/linux-x86_64" 1700000000 0
  SAMPLERATE 16000 0 0
  PANLAW 0.70710678118655
  MASTER_VOLUME 0.9 0 -1 -1 1
  <MASTERVOLENV2
    ACT 1 -1
    PT 0 1 0
    PT 2 0.5 0
  >
  <TRACK {00000001-0000-4000-8000-000000000001}
    NAME "Takes"
    VOLPAN 1.2 0.25 -1 -1 1
    MUTESOLO 0 0 0
    ISBUS 0 0
    MAINSEND 1 0
    <ITEM
      POSITION 0.25
      LENGTH 1.5
      LOOP 1
      FADEIN 1 0.05 0 1 0 0 0
      FADEOUT 1 0 0.3 1 0 0 0
      MUTE 0 0
      NAME "take one"
      VOLPAN 0.9 0 1.1 -1
      SOFFS 0.1
      PLAYRATE 1 1 0 -1 0 0.0025
      CHANMODE 2
      <SOURCE WAVE
        FILE "media/b.wav"
      >
      TAKE SEL
      NAME "take two"
      TAKEVOLPAN 0 0.7 -1
      SOFFS 0
      PLAYRATE 0.8 1 0 -1 0 0.0025
      CHANMODE 0
      <SOURCE SECTION
        LENGTH 0.5
        STARTPOS 0.2
        OVERLAP 0
        MODE 2
        <SOURCE WAVE
          FILE "media/a.wav"
        >
      >
    >
    <ITEM
      POSITION 2
      LENGTH 1
      VOLPAN 1
      TAKE NULL
      TAKE SEL
      NAME c
      TAKEVOLPAN 0 2 -1
      <SOURCE WAVE
        FILE "c.wav"
      >
    >
  >
  <TRACK {00000002-0000-4000-8000-000000000002}
    NAME Return
    VOLPAN 0.5 0 -1 -1 1
    AUXRECV 0 0 0.8 0 0 0 0 0 0 -1:U 0 -1 ''
    <ITEM
      POSITION 0
      LENGTH 1
      VOLPAN 1 0 -1 -1
      <SOURCE WAVE
        FILE "media/c.wav"
      >
    >
  >
>
"""


@functools.cache
def _handmade_rpp() -> Files:
    return {"song.rpp": _HANDMADE_RPP.encode(), **_rpp_media()}


@functools.cache
def _demo_rpp() -> Files:
    files: Files = {"demo.rpp": (DEMO / "demo.rpp").read_bytes()}
    for wav in sorted((DEMO / "media").glob("*.wav")):
        files[f"media/{wav.name}"] = wav.read_bytes()
    return files


LIVE_SET = "Song Project/song.als"
LIVE_SAMPLES = "Song Project/Samples/Imported"


@functools.cache
def _live_media() -> Files:
    return {
        f"{LIVE_SAMPLES}/a.wav": wav_bytes(noise(2.0, 16000, 1, -30.0, 4), 16000, "FLOAT"),
        f"{LIVE_SAMPLES}/b.wav": wav_bytes(noise(2.0, 22050, 2, -10.0, 5), 22050, "PCM_16"),
        "Song Project/Ableton Project Info": Special("dir"),
    }


def _live_clip(name: str, start: float, beats: float, **kw: object) -> ClipSpec:
    wav = _live_media()[f"{LIVE_SAMPLES}/{name}"]
    assert isinstance(wav, bytes)
    spec = ClipSpec(start, start + beats, file_name=name, loop_end=beats, file_size=len(wav), crc=als.live_crc16(wav))
    return dataclasses.replace(spec, **kw)  # type: ignore[arg-type]


def _live_files(version: int, gzipped: bool) -> Files:
    tracks = [
        AlsTrack(
            10,
            "Drums",
            volume=0.7,
            clips=(_live_clip("a.wav", 0, 4), _live_clip("a.wav", 4, 8, loop_on=True, fade_in=0.5)),
        ),
        AlsTrack(20, "Group", kind="group"),
        AlsTrack(
            21,
            "Keys",
            group_id=20,
            pan=0.4,
            clips=(_live_clip("b.wav", 2, 4, sample_volume=1.5, warped=False, loop_end=1.5),),
            volume_automation=((4.0, 0.5), (8.0, 1.0)),
        ),
    ]
    data = make_set(version, tracks, tempo_changes=((8.0, 120.0), (12.0, 90.0)), gzipped=gzipped)
    return {LIVE_SET: data, **_live_media()}


def fixture_bases() -> tuple[Base, ...]:
    """The project's own sessions, each with generated audio."""
    return (
        Base("fx-rpp", "song.rpp", _factory_rpp, audio=True),
        Base("fx-rpp-takes", "song.rpp", _handmade_rpp, audio=True),
        Base("fx-demo", "demo.rpp", _demo_rpp, audio=True),
        Base("fx-als9", LIVE_SET, functools.cache(lambda: _live_files(9, True)), audio=True, gzipped=True),
        Base("fx-als11-xml", LIVE_SET, functools.cache(lambda: _live_files(11, False)), audio=True),
        Base("fx-als12", LIVE_SET, functools.cache(lambda: _live_files(12, True)), audio=True, gzipped=True),
    )


def _fixture(name: str) -> Base:
    return next(b for b in fixture_bases() if b.name == name)


# ---------------------------------------------------------------------------------------------------- mutations


def _xml(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return data


def _like(original: bytes, xml: bytes) -> bytes:
    """`xml` packed like `original` was: gzip (as Live writes it) or plain."""
    return gzip.compress(xml, compresslevel=6, mtime=0) if original[:2] == b"\x1f\x8b" else xml


def on_text(base: Base, mutate: Callable[[bytes], bytes]) -> Callable[[], Files]:
    """A builder applying `mutate` to the session's text (the XML inside a gzip set)."""

    def build() -> Files:
        data = base.data()
        return base.with_session(_like(data, mutate(_xml(data))))

    return build


def _on_bytes(base: Base, mutate: Callable[[bytes], bytes], name: str | None = None) -> Callable[[], Files]:
    return lambda: base.with_session(mutate(base.data()), name)


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(map(str, (seed, *parts))))


def truncate_at(fraction: float) -> Callable[[bytes], bytes]:
    return lambda d: d[: int(len(d) * fraction)]


def flip_bits(rng_seed: str, count: int) -> Callable[[bytes], bytes]:
    def mutate(d: bytes) -> bytes:
        if not d:
            return d
        rng, out = random.Random(rng_seed), bytearray(d)
        for _ in range(count):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out)

    return mutate


INSERTS: tuple[bytes, ...] = (
    b"<",
    b">",
    b"\n>\n",
    b"\n<ITEM\n",
    b"\n<TRACK\n",
    b'"',
    b"'",
    b"`",
    b"\x00",
    b"\xff\xfe",
    b"\r",
    b"\n",
    b"1e308",
    b"-",
    b"nan",
    b"&",
    b"&lol;",
    b"&#0;",
    b"&#10;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"</Ableton>",
    b"<Ableton>",
    b'Value="',
    b"\n  VOLPAN abc 0 1,5 -1\n",
    b"\n  POSITION 1e300\n",
    b"\n  SAMPLERATE 1e308\n",
    b"\xe2\x80",  # a cut UTF-8 sequence
    b"\t" * 64,
)


def insert_at(rng_seed: str) -> Callable[[bytes], bytes]:
    def mutate(d: bytes) -> bytes:
        rng = random.Random(rng_seed)
        out = d
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(out) + 1)
            token = rng.choice(INSERTS) if rng.random() < 0.8 else bytes(rng.randrange(256) for _ in range(8))
            out = out[:i] + token + out[i:]
        return out

    return mutate


def set_rpp_field(keyword: str, index: int, nth: int, value: bytes) -> Callable[[bytes], bytes]:
    """Replace token `index` of the `nth` line whose first token is `keyword` (indentation and EOL kept)."""

    def mutate(d: bytes) -> bytes:
        lines = d.split(b"\n")
        seen = 0
        for k, line in enumerate(lines):
            tokens = line.split()
            if tokens and tokens[0] == keyword.encode():
                if seen == nth:
                    indent = line[: len(line) - len(line.lstrip())]
                    eol = b"\r" if line.endswith(b"\r") else b""
                    tokens = tokens + [b"0"] * (index + 1 - len(tokens))
                    tokens[index] = value
                    lines[k] = indent + b" ".join(t for t in tokens if t) + eol
                    return b"\n".join(lines)
                seen += 1
        raise LookupError(f"no line {nth} starting with {keyword}")

    return mutate


def set_xml_value(anchor: str, attr: str, nth: int, value: bytes) -> Callable[[bytes], bytes]:
    """Replace the value of attribute `attr` of the first element at or after the `nth` occurrence of `anchor`.

    An anchor "<Volume>/<Manual" is a path: the first <Manual after the `nth` <Volume> (a mixer parameter's value
    sits in its Manual, after a LomId that also has a Value)."""
    pattern = re.compile(rb"\b" + attr.encode() + rb'="[^"]*"')
    first, *then = anchor.split("/")

    def mutate(d: bytes) -> bytes:
        pos = -1
        for _ in range(nth + 1):
            pos = d.find(first.encode(), pos + 1)
            if pos < 0:
                raise LookupError(f"no {first} number {nth}")
        for inner in then:
            pos = d.find(inner.encode(), pos)
            if pos < 0:
                raise LookupError(f"no {inner} after {first} number {nth}")
        m = pattern.search(d, pos)
        if m is None:
            raise LookupError(f"no {attr} after {anchor}")
        return d[: m.start()] + attr.encode() + b'="' + value + b'"' + d[m.end() :]

    return mutate


# ---------------------------------------------------------------------------------------------------- gzip helpers


def deflate_repeated(chunk: bytes, times: int) -> bytes:
    """A raw deflate stream of `chunk` repeated `times`, built in O(len(chunk)): full flushes make each
    compressed copy independent, so the same compressed bytes can be repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    return one * times + zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # magic, deflate, no flags, mtime 0, XFL 0, OS unknown


def gzip_member(payload: bytes, *, crc: int | None = None, size: int | None = None, flags: bytes = b"") -> bytes:
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = body.compress(payload) + body.flush()
    crc = zlib.crc32(payload) if crc is None else crc
    size = len(payload) if size is None else size
    header = GZIP_HEADER if not flags else GZIP_HEADER[:3] + flags
    return header + deflated + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def bomb(prefix: bytes, chunk: bytes, times: int) -> bytes:
    """gzip whose payload is `prefix` then `chunk` x `times` (the trailer lies: the size cap must come first)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    body = deflate_repeated(chunk, times)
    return GZIP_HEADER + head + body + struct.pack("<II", 0, 0)


# ---------------------------------------------------------------------------------------------------- case families


def _mutation_cases(bases: Sequence[Base], seed: int, per_base: int, *, corpus: bool) -> Iterator[Case]:
    """Truncations, bit flips and insertions of each base (on the raw bytes and, for gzip sets, the XML)."""
    for base in bases:
        gz = base.gzipped
        for k in range(per_base):
            rng = _rng(seed, base.name, "trunc", k)
            fraction = rng.random()
            on_raw = gz and k % 2 == 0
            build = _on_bytes(base, truncate_at(fraction)) if on_raw else on_text(base, truncate_at(fraction))
            where = "gzip bytes" if on_raw else "text"
            yield Case(
                f"{base.name}-trunc-{k}",
                "truncation",
                f"{base.name} {where} cut at {fraction:.1%}",
                base.session,
                build,
            )
        for k in range(per_base):
            count = (1, 2, 4, 16, 64)[k % 5]
            flip = flip_bits(f"{seed}:{base.name}:flip:{k}", count)
            on_raw = gz and k % 3 == 0
            yield Case(
                f"{base.name}-flip-{k}",
                "bitflip",
                f"{base.name}: {count} bit(s) flipped in the {'gzip bytes' if on_raw else 'text'}",
                base.session,
                _on_bytes(base, flip) if on_raw else on_text(base, flip),
            )
        for k in range(per_base):
            yield Case(
                f"{base.name}-insert-{k}",
                "insertion",
                f"{base.name}: 1-3 tokens inserted at random places",
                base.session,
                on_text(base, insert_at(f"{seed}:{base.name}:insert:{k}")),
            )
        if not corpus:
            yield from _unbalanced_cases(base)


def _unbalanced_cases(base: Base) -> Iterator[Case]:
    if base.kind == "rpp":
        edits: list[tuple[str, Callable[[bytes], bytes]]] = [
            ("last '>' removed", lambda d: d.rstrip()[:-1]),
            ("an extra '>' at the end", lambda d: d + b">\n"),
            ("an extra '>' after the first track", lambda d: d.replace(b"\n  <TRACK", b"\n  >\n  <TRACK", 1)),
            ("the first item's '>' removed", lambda d: re.sub(rb"\n      >(\r?)\n    >", rb"\n    >", d, count=1)),
            ("an unclosed <ITEM before the end", lambda d: d.rstrip()[:-1] + b"  <ITEM\n>\n"),
            ("every '>' line removed", lambda d: re.sub(rb"(?m)^\s*>\s*$", b"", d)),
        ]
    else:
        edits = [
            ("closing </Ableton> removed", lambda d: d.replace(b"</Ableton>", b"")),
            ("a stray </Tracks> inserted", lambda d: d.replace(b"<Tracks>", b"<Tracks></Tracks></Tracks>", 1)),
            ("</LiveSet> renamed", lambda d: d.replace(b"</LiveSet>", b"</LiveSeT>")),
            ("an <AudioClip> left open", lambda d: d.replace(b"</AudioClip>", b"", 1)),
            ("two roots", lambda d: d + d[d.find(b"<Ableton") :]),
            ("a self-closing tag without '/'", lambda d: d.replace(b'<LomId Value="0" />', b'<LomId Value="0">', 1)),
        ]
    for k, (what, mutate) in enumerate(edits):
        yield Case(
            f"{base.name}-unbalanced-{k}", "unbalanced", f"{base.name}: {what}", base.session, on_text(base, mutate)
        )


def _reencoding_cases(bases: Sequence[Base], seed: int) -> Iterator[Case]:
    encodings = (
        ("utf-16", "UTF-16 with BOM"),
        ("utf-16-be", "UTF-16 BE without BOM"),
        ("utf-32", "UTF-32 with BOM"),
        ("latin-1", "Latin-1 (non-ASCII characters as single bytes)"),
        ("utf-8-sig", "UTF-8 with BOM"),
    )
    for n, base in enumerate(bases):
        for k in range(2 if base.audio else 1):
            codec, what = encodings[(n + k + seed) % len(encodings)]

            def mutate(d: bytes, codec: str = codec) -> bytes:
                return d.decode("utf-8", "replace").encode(codec, "replace")

            yield Case(
                f"{base.name}-enc-{codec}",
                "re-encoding",
                f"{base.name} re-encoded as {what}",
                base.session,
                on_text(base, mutate),
            )


RPP_VALUES: tuple[bytes, ...] = (
    b"1e308",
    b"1e300",
    b"-1e308",
    b"1e-308",
    b"4e-320",
    b"nan",
    b"inf",
    b"-inf",
    b"-0",
    b"1,5",
    b"abc",
    b"1.5abc",
    b"0x1A",
    b"1e999",
    b"99999999999999999999999",
    b"-1",
    b"0",
    b"1..5",
    b"+",
    b"",
)

# (keyword, token index, nth line with that keyword, what) in the factory project (fx-rpp) and the hand-made one
RPP_FIELDS: tuple[tuple[str, str, int, int, str], ...] = (
    ("fx-rpp", "SAMPLERATE", 1, 0, "project sample rate"),
    ("fx-rpp", "PANLAW", 1, 0, "project pan law"),
    ("fx-rpp", "MASTER_VOLUME", 1, 0, "master fader"),
    ("fx-rpp", "MASTER_VOLUME", 2, 0, "master pan"),
    ("fx-rpp", "MASTERMUTESOLO", 1, 0, "master mute/solo bits"),
    ("fx-rpp", "VOLPAN", 1, 0, "track fader"),
    ("fx-rpp", "VOLPAN", 2, 0, "track pan"),
    ("fx-rpp", "ISBUS", 2, 3, "folder close depth"),
    ("fx-rpp", "AUTOMODE", 1, 3, "automation mode"),
    ("fx-rpp", "POSITION", 1, 0, "item position"),
    ("fx-rpp", "LENGTH", 1, 1, "item length (looped item)"),
    ("fx-rpp", "FADEIN", 2, 1, "fade-in length"),
    ("fx-rpp", "FADEOUT", 3, 1, "auto-fade-out length"),
    ("fx-rpp", "VOLPAN", 1, 1, "item volume"),
    ("fx-rpp", "VOLPAN", 3, 1, "take volume"),
    ("fx-rpp", "SOFFS", 1, 1, "source offset"),
    ("fx-rpp", "PLAYRATE", 1, 2, "playrate"),
    ("fx-rpp", "CHANMODE", 1, 0, "channel mode"),
    ("fx-rpp", "PT", 1, 1, "envelope point time"),
    ("fx-rpp", "PT", 2, 0, "envelope point value"),
    ("fx-rpp-takes", "TAKEVOLPAN", 2, 0, "selected take volume"),
    ("fx-rpp-takes", "STARTPOS", 1, 0, "section start"),
    ("fx-rpp-takes", "LENGTH", 1, 1, "section length"),
    ("fx-rpp-takes", "MODE", 1, 0, "section mode"),
    ("fx-rpp-takes", "AUXRECV", 3, 0, "receive level"),
    ("fx-rpp-takes", "PT", 2, 1, "master envelope value"),
)

ALS_VALUES: tuple[bytes, ...] = (
    b"1e308",
    b"1e300",
    b"-1e308",
    b"4e-320",
    b"nan",
    b"NaN",
    b"inf",
    b"-Infinity",
    b"-0",
    b"1,5",
    b"abc",
    b"",
    b" 1 ",
    b"1e999",
    b"0x10",
    b"-1",
    b"0",
)

# (base, anchor, attribute, nth anchor, what) in the synthetic Live sets
ALS_FIELDS: tuple[tuple[str, str, str, int, str], ...] = (
    ("fx-als11-xml", "<SampleVolume", "Value", 0, "clip gain"),
    ("fx-als11-xml", "<CurrentStart", "Value", 0, "clip start"),
    ("fx-als11-xml", "<CurrentEnd", "Value", 1, "clip end (looped clip)"),
    ("fx-als11-xml", "<LoopStart", "Value", 1, "loop start"),
    ("fx-als11-xml", "<LoopEnd", "Value", 1, "loop end"),
    ("fx-als11-xml", "<StartRelative", "Value", 1, "loop start offset"),
    ("fx-als11-xml", "<WarpMarker ", "SecTime", 1, "warp marker seconds"),
    ("fx-als11-xml", "<WarpMarker ", "BeatTime", 1, "warp marker beat"),
    ("fx-als11-xml", "<FadeInLength", "Value", 1, "fade-in length"),
    ("fx-als11-xml", "<PitchCoarse", "Value", 2, "transpose (unwarped clip)"),
    ("fx-als11-xml", "<PitchFine", "Value", 2, "detune (unwarped clip)"),
    ("fx-als11-xml", "<Volume>/<Manual", "Value", 0, "track fader"),
    ("fx-als11-xml", "<Pan>/<Manual", "Value", 2, "track pan"),
    ("fx-als11-xml", "<Volume>/<Manual", "Value", 3, "master fader"),
    ("fx-als11-xml", "<Tempo>/<Manual", "Value", 0, "tempo"),
    ("fx-als11-xml", "<FloatEvent ", "Value", 1, "volume envelope point"),
    ("fx-als11-xml", "<FloatEvent ", "Time", 1, "volume envelope time"),
    ("fx-als11-xml", "<RelativePathType", "Value", 0, "relative path type"),
    ("fx-als11-xml", "<OriginalFileSize", "Value", 0, "sample file size"),
    ("fx-als11-xml", "<OriginalCrc", "Value", 0, "sample CRC"),
    ("fx-als11-xml", "<Ableton ", "MinorVersion", 0, "Live version"),
    ("fx-als9", "<SampleVolume", "Value", 0, "clip gain (Live 9)"),
    ("fx-als9", "<Volume>/<Manual", "Value", 1, "track fader (Live 9)"),
)


def _number_cases() -> Iterator[Case]:
    targets: list[tuple[str, str, str, tuple[bytes, ...], Callable[[bytes], Callable[[bytes], bytes]]]] = [
        (base, f"{kw}{i}-{nth}", f"{what} ({kw} field {i})", RPP_VALUES, functools.partial(set_rpp_field, kw, i, nth))
        for base, kw, i, nth, what in RPP_FIELDS
    ]
    targets += [
        (base, f"{_slug(anchor.encode())}-{attr}-{nth}", f"{what} ({anchor.strip('<> ')} {attr})", ALS_VALUES,
         functools.partial(set_xml_value, anchor, attr, nth))
        for base, anchor, attr, nth, what in ALS_FIELDS
    ]  # fmt: skip
    for base_name, key, what, values, setter in targets:
        base = _fixture(base_name)
        for value in values:
            yield Case(
                f"{base_name}-num-{key}-{_slug(value)}",
                "number",
                f"{base_name}: {what} = {value.decode()!r}",
                base.session,
                on_text(base, setter(value)),
            )


def _slug(value: bytes) -> str:
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", value.decode("ascii", "replace")).strip("_")
    return text or "empty"


def _raw(name: str, data: bytes | Callable[[], bytes]) -> Callable[[], Files]:
    return lambda: {name: data() if callable(data) else data}


LIVE_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<Ableton MajorVersion="5" MinorVersion="11.0_433" Creator="x">'
RPP_HEAD = b'<REAPER_PROJECT 0.1 "7.0/x64" 1\n'


def _random_cases(seed: int) -> Iterator[Case]:
    for k in range(36):
        rng = _rng(seed, "random", k)
        size = rng.choice((1, 7, 64, 512, 4096, 65536))
        ext = (".rpp", ".als", ".RPP")[k % 3]
        head = (b"", RPP_HEAD, LIVE_HEAD + b"<LiveSet>", b"\x1f\x8b\x08\x00")[k % 4]
        junk = rng.randbytes(size)
        yield Case(
            f"random-{k}",
            "random-bytes",
            f"{size} random bytes{' behind a ' + repr(head[:14]) if head else ''} named x{ext}",
            f"x{ext}",
            _raw(f"x{ext}", head + junk),
        )


def _empty_cases() -> Iterator[Case]:
    rpp = _fixture("fx-rpp")
    als = _fixture("fx-als11-xml")
    plain: list[tuple[str, str, bytes]] = [
        ("empty-rpp", "empty .rpp", b""),
        ("empty-als", "empty .als", b""),
        ("blank-rpp", "blank lines only", b"\r\n\n  \t\n"),
        ("nul-1-rpp", "one NUL byte", b"\x00"),
        ("nul-64k-als", "64 KiB of NUL bytes", b"\x00" * 65536),
        ("nul-header-rpp", "a NUL inside the header line", b"<REAPER_PROJECT\x00 0.1\n>\n"),
        ("bom-only-rpp", "a UTF-8 BOM and nothing else", b"\xef\xbb\xbf"),
        ("gzip-empty-als", "gzip of nothing", gzip.compress(b"", mtime=0)),
        ("gzip-nul-als", "gzip of NUL bytes", gzip.compress(b"\x00" * 4096, mtime=0)),
        ("xml-decl-only-als", "an XML declaration only", b'<?xml version="1.0" encoding="UTF-8"?>\n'),
    ]
    for cid, what, data in plain:
        name = "x.als" if cid.endswith("als") else "x.rpp"
        yield Case(cid, "empty-nul", what, name, _raw(name, data))
    for base in (rpp, als):
        for where, mutate in (
            ("at the start", lambda d: b"\x00" + d),
            ("in the middle", lambda d: d[: len(d) // 2] + b"\x00" + d[len(d) // 2 :]),
            ("after the end", lambda d: d + b"\x00\x00\x00"),
            ("replacing every newline", lambda d: d.replace(b"\n", b"\x00")),
        ):
            yield Case(
                f"{base.name}-nul-{where.split()[-1]}",
                "empty-nul",
                f"{base.name}: NUL bytes {where}",
                base.session,
                on_text(base, mutate),
            )


def _huge_cases() -> Iterator[Case]:
    rpp, als = _fixture("fx-rpp"), _fixture("fx-als11-xml")
    mb = 1 << 20
    rpp_edits: list[tuple[str, str, Callable[[bytes], bytes]]] = [
        ("name", "an 8 MiB track name", lambda d: d.replace(b'NAME "Drums"', b'NAME "' + b"D" * (8 * mb) + b'"', 1)),
        ("bare", "a 4 MiB unquoted token", lambda d: d.replace(b"PEAKCOL", b"PEAKCOL" + b"9" * (4 * mb), 1)),
        (
            "tokens",
            "a VOLPAN line of 2 million tokens",
            lambda d: d.replace(b"VOLPAN 0.8", b"VOLPAN" + b" 0.8" * 2_000_000, 1),
        ),
        ("quoted", "an unterminated 2 MiB quote", lambda d: d.replace(b'NAME "Keys"', b'NAME "' + b"k" * (2 * mb), 1)),
        ("lines", "4 million blank lines", lambda d: d.replace(b"\n", b"\n" + b"\n" * 4_000_000, 1)),
        (
            "filepath",
            "a 64 KiB media path",
            lambda d: d.replace(b'FILE "media/a.wav"', b'FILE "' + b"a/" * 32768 + b'a.wav"', 1),
        ),
    ]
    for cid, what, mutate in rpp_edits:
        yield Case(f"fx-rpp-huge-{cid}", "huge-line", what, rpp.session, on_text(rpp, mutate))
    als_edits: list[tuple[str, str, Callable[[bytes], bytes]]] = [
        (
            "attr",
            "a 16 MiB attribute value",
            lambda d: d.replace(b'<Annotation Value="', b'<Annotation Value="' + b"x" * (16 * mb), 1),
        ),
        (
            "text",
            "a 12 MiB text node",
            lambda d: d.replace(b"<LiveSet>", b"<LiveSet><Junk>" + b"t" * (12 * mb) + b"</Junk>", 1),
        ),
        ("oneline", "the whole set on one line", lambda d: d.replace(b"\n", b" ").replace(b"\t", b"")),
        ("path", "a 1 MiB sample path", lambda d: d.replace(b'<Path Value="', b'<Path Value="' + b"/p" * (mb // 2), 1)),
        (
            "name",
            "a 9 MiB element name",
            lambda d: d.replace(b"<LiveSet>", b"<LiveSet><" + b"N" * (9 * mb) + b" />", 1),
        ),
    ]
    for cid, what, mutate in als_edits:
        yield Case(f"fx-als-huge-{cid}", "huge-line", what, als.session, on_text(als, mutate))


def _nesting_cases() -> Iterator[Case]:
    rpp, als = _fixture("fx-rpp"), _fixture("fx-als11-xml")
    for depth in (300, 10_000, 200_000):

        def rpp_nest(d: bytes, depth: int = depth) -> bytes:
            cut = d.rstrip().rfind(b"\n")
            return d[:cut] + b"\n" + b"<X\n" * depth + b">\n" * depth + d[cut + 1 :]

        def als_nest(d: bytes, depth: int = depth) -> bytes:
            return d.replace(b"<LiveSet>", b"<LiveSet>" + b"<a>" * depth + b"</a>" * depth, 1)

        yield Case(
            f"fx-rpp-nest-{depth}", "deep-nesting", f"{depth} nested blocks", rpp.session, on_text(rpp, rpp_nest)
        )
        yield Case(
            f"fx-als-nest-{depth}", "deep-nesting", f"{depth} nested elements", als.session, on_text(als, als_nest)
        )
    yield Case(
        "rpp-nest-unclosed",
        "deep-nesting",
        "100,000 blocks opened, none closed",
        "x.rpp",
        _raw("x.rpp", RPP_HEAD + b"<ITEM\n" * 100_000),
    )
    yield Case(
        "als-nest-unclosed",
        "deep-nesting",
        "100,000 elements opened, none closed",
        "x.als",
        _raw("x.als", LIVE_HEAD + b"<LiveSet>" + b"<a>" * 100_000),
    )
    yield Case(
        "als-empty-elements-plain",
        "deep-nesting",
        "5 million empty elements (20 MB of XML)",
        "x.als",
        _raw("x.als", lambda: LIVE_HEAD + b"<LiveSet>" + b"<a/>" * 5_000_000 + b"</LiveSet></Ableton>"),
    )


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Ableton [\n <!ENTITY a "lollollollollollollollollollol">\n'
    + b"".join(b' <!ENTITY %c "%s">\n' % (ord("b") + i, (b"&%c;" % (ord("a") + i)) * 10) for i in range(9))
    + b']>\n<Ableton MinorVersion="11.0_433"><LiveSet><Name Value="&j;"/></LiveSet></Ableton>\n'
)


def _entity_cases() -> Iterator[Case]:
    als = _fixture("fx-als11-xml")
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    docs: list[tuple[str, str, bytes | Callable[[bytes], bytes]]] = [
        ("billion-laughs", "billion laughs (10^9 expansions)", BILLION_LAUGHS),
        ("billion-laughs-gz", "billion laughs, gzipped", gzip.compress(BILLION_LAUGHS, mtime=0)),
        (
            "xxe-file",
            "XXE: an external entity reading /etc/passwd",
            lambda d: d.replace(
                head, head + b'<!DOCTYPE Ableton [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n', 1
            ).replace(b'<Annotation Value=""', b'<Annotation Value="&x;"', 1),
        ),
        (
            "xxe-http",
            "XXE: an external DTD on the network",
            lambda d: d.replace(head, head + b'<!DOCTYPE Ableton SYSTEM "http://127.0.0.1:9/evil.dtd">\n', 1),
        ),
        (
            "param-entity",
            "a parameter entity pulling an external DTD",
            lambda d: d.replace(head, head + b'<!DOCTYPE A [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n', 1),
        ),
        (
            "doctype-after-comment",
            "a DOCTYPE hidden after a comment that looks like a tag",
            lambda d: d.replace(head, head + b'<!-- <a> -->\n<!DOCTYPE Ableton [<!ENTITY e "x">]>\n', 1),
        ),
        ("undefined-entity", "an entity used without a DTD", lambda d: d.replace(b'Value="Drums"', b'Value="&e;"', 1)),
        ("char-ref-nul", "a character reference to NUL", lambda d: d.replace(b'Value="Drums"', b'Value="&#0;"', 1)),
        (
            "char-ref-newline",
            "newlines in a name by character reference",
            lambda d: d.replace(b'Value="Drums"', b'Value="a&#10;b&#13;c"', 1),
        ),
        (
            "cdata-doctype",
            "a CDATA section holding a DOCTYPE",
            lambda d: d.replace(b"<LiveSet>", b"<LiveSet><![CDATA[<!DOCTYPE x>]]>", 1),
        ),
        ("pi", "processing instructions everywhere", lambda d: d.replace(b"\n\t", b"\n<?php x ?>\t")),
        (
            "xinclude",
            "an XInclude of /etc/passwd",
            lambda d: d.replace(
                b"<LiveSet>",
                b'<LiveSet><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>',
                1,
            ),
        ),
        (
            "encoding-lie",
            "declares UTF-16, is UTF-8",
            lambda d: d.replace(b'encoding="UTF-8"', b'encoding="UTF-16"', 1),
        ),
        ("encoding-ebcdic", "declares EBCDIC", lambda d: d.replace(b'encoding="UTF-8"', b'encoding="EBCDIC-US"', 1)),
        ("namespace-junk", "an undeclared namespace prefix", lambda d: d.replace(b"<LiveSet>", b"<LiveSet><x:y/>", 1)),
    ]
    for cid, what, content in docs:
        if isinstance(content, bytes):
            yield Case(f"als-{cid}", "entity", what, "x.als", _raw("x.als", content))
        else:
            yield Case(f"fx-als-{cid}", "entity", what, als.session, on_text(als, content))


def _gzip_cases() -> Iterator[Case]:
    als = _fixture("fx-als12")
    mb = 1 << 20

    def xml() -> bytes:
        return _xml(als.data())

    cases: list[tuple[str, str, Callable[[], bytes]]] = [
        ("bomb-zeros", "1 GiB of zeros in about 1 MB", lambda: bomb(b"", b"\x00" * mb, 1024)),
        ("bomb-spaces", "a Live header then 1 GiB of spaces", lambda: bomb(LIVE_HEAD, b" " * mb, 1024)),
        (
            "bomb-elements",
            "30 million empty elements (120 MiB) in a gzip",
            lambda: bomb(LIVE_HEAD + b"<LiveSet>", b"<a/>" * (mb // 4), 120),
        ),
        (
            "multi-member",
            "the set split into two gzip members",
            lambda: gzip_member(xml()[:1000]) + gzip_member(xml()[1000:]),
        ),
        ("multi-member-empty", "an empty member, then the set", lambda: gzip_member(b"") + gzip_member(xml())),
        ("two-sets", "two complete sets as two members", lambda: gzip_member(xml()) + gzip_member(xml())),
        ("trailing-junk", "the set then junk bytes", lambda: als.data() + b"JUNK" * 10),
        ("trailing-zeros", "the set then zero padding", lambda: als.data() + b"\x00" * 512),
        ("bad-crc", "a wrong CRC-32 in the trailer", lambda: gzip_member(xml(), crc=0x12345678)),
        ("bad-size", "a wrong ISIZE in the trailer", lambda: gzip_member(xml(), size=7)),
        ("no-trailer", "the trailer cut off", lambda: als.data()[:-8]),
        (
            "fname",
            "a file name and comment in the header",
            lambda: gzip_member(xml(), flags=b"\x18\x00\x00\x00\x00\x00\x03evil.als\x00comment\x00"),
        ),
        (
            "fextra",
            "an FEXTRA field claiming 65535 bytes",
            lambda: gzip_member(xml(), flags=b"\x04\x00\x00\x00\x00\x00\x03\xff\xff"),
        ),
        ("stored", "stored (uncompressed) deflate blocks", lambda: _stored(xml())),
        ("deflate-raw", "raw deflate without the gzip wrapper", lambda: zlib.compress(xml())[2:-4]),
        ("zlib", "a zlib stream instead of gzip", lambda: zlib.compress(xml())),
        ("method-9", "compression method 9 in the header", lambda: b"\x1f\x8b\x09" + gzip_member(xml())[3:]),
    ]
    for cid, what, make in cases:
        yield Case(f"gzip-{cid}", "gzip", what, "x.als", _raw("x.als", make))


def _stored(payload: bytes) -> bytes:
    c = zlib.compressobj(0, zlib.DEFLATED, -15)
    return GZIP_HEADER + c.compress(payload) + c.flush() + struct.pack("<II", zlib.crc32(payload), len(payload))


def _extension_cases() -> Iterator[Case]:
    rpp, als, plain = _fixture("fx-rpp"), _fixture("fx-als12"), _fixture("fx-als11-xml")
    renames = [
        (rpp, "song.als", "a REAPER project named .als"),
        (rpp, "song.RPP", "upper-case .RPP"),
        (rpp, "song.txt", "a REAPER project named .txt"),
        (rpp, "song", "no extension"),
        (rpp, "song.rpp.bak", "a backup name"),
        (als, "Song Project/song.rpp", "a gzip Live set named .rpp"),
        (als, "Song Project/song.ALS", "upper-case .ALS"),
        (als, "Song Project/song.xml", "a gzip Live set named .xml"),
        (als, "Song Project/song.als.gz", "named .als.gz"),
        (plain, "Song Project/song.rpp", "a plain-XML Live set named .rpp"),
        (plain, "Song Project/song", "a plain-XML Live set without extension"),
        (rpp, "-song.rpp", "a name starting with '-'"),
        (rpp, "sp ace\tand\nnewline.rpp", "whitespace and a newline in the file name"),
    ]
    for k, (base, name, what) in enumerate(renames):
        yield Case(f"{base.name}-ext-{k}", "wrong-extension", what, name, _on_bytes(base, lambda d: d, name))


def _special_cases() -> Iterator[Case]:
    rpp, als = _fixture("fx-rpp"), _fixture("fx-als12")
    sessions: list[tuple[str, str, Special]] = [
        ("fifo", "the session is a FIFO nobody writes to", Special("fifo")),
        ("devzero", "the session is a symlink to /dev/zero", Special("symlink", "/dev/zero")),
        ("urandom", "the session is a symlink to /dev/urandom", Special("symlink", "/dev/urandom")),
        ("dir", "the session is a directory", Special("dir")),
        ("loop", "the session is a symlink loop", Special("symlink", "x.rpp")),
        ("dangling", "the session is a dangling symlink", Special("symlink", "nowhere/x.rpp")),
        (
            "proc",
            "the session is /proc/self/status (a regular file of size 0)",
            Special("symlink", "/proc/self/status"),
        ),
    ]
    for cid, what, special in sessions:
        for ext in (".rpp", ".als"):
            yield Case(
                f"special-session-{cid}{ext}",
                "special-file",
                what,
                f"x{ext}",
                lambda s=special, e=ext: {f"x{e}": s},  # type: ignore[misc]
                special=True,
            )
    media: list[tuple[str, str, Special]] = [
        ("fifo", "a FIFO", Special("fifo")),
        ("devzero", "a symlink to /dev/zero", Special("symlink", "/dev/zero")),
        ("dir", "a directory", Special("dir")),
        ("loop", "a symlink loop", Special("symlink", "a.wav")),
        ("stdin", "a symlink to /dev/stdin", Special("symlink", "/dev/stdin")),
    ]
    for cid, what, special in media:
        yield Case(
            f"special-media-{cid}-rpp",
            "special-file",
            f"the first clip's media is {what}",
            rpp.session,
            _replacing(rpp, "media/a.wav", special),
            special=True,
        )
        yield Case(
            f"special-media-{cid}-als",
            "special-file",
            f"a Live clip's media is {what} (also found by the name search)",
            als.session,
            _replacing(als, f"{LIVE_SAMPLES}/a.wav", special),
            special=True,
        )


def _replacing(base: Base, rel: str, content: Content | Callable[[], bytes]) -> Callable[[], Files]:
    """A builder: the base's files with `rel` replaced by `content` (or what it returns)."""

    def build() -> Files:
        return {**base.files(), rel: content() if callable(content) else content}

    return build


def _rpp_media_path(path: bytes) -> Callable[[bytes], bytes]:
    return lambda d: d.replace(b'FILE "media/a.wav"', b'FILE "' + path + b'"', 1)


def _live_media_path(path: bytes) -> Callable[[bytes], bytes]:
    value = path.replace(b"\\", b"\\\\")  # a literal backslash in the re.sub replacement
    return lambda d: re.sub(rb'(<(?:Relative)?Path Value=")[^"]*"', rb"\g<1>" + value + b'"', d, count=2)


def _media_path_cases() -> Iterator[Case]:
    rpp, als = _fixture("fx-rpp"), _fixture("fx-als11-xml")
    paths = [
        "/dev/zero",
        "/dev/stdin",
        "/dev/tty",
        "/proc/self/mem",
        "/etc/passwd",
        "../../../../../../../../etc/hostname",
        "..\\..\\..\\..\\windows\\win.ini",
        "\\\\server\\share\\a.wav",
        "C:\\Users\\x\\a.wav",
        "media/" + "x" * 5000 + ".wav",
        "media/",
        ".",
        "song.rpp",
        "~/a.wav",
        "$HOME/a.wav",
        "media/a.wav/..",
    ]
    for k, path in enumerate(paths):
        enc = path.encode()
        yield Case(
            f"fx-rpp-media-{k}",
            "media-path",
            f"FILE {path[:60]!r}",
            rpp.session,
            on_text(rpp, _rpp_media_path(enc)),
            special=path.startswith(("/dev", "/proc")),
        )
        yield Case(
            f"fx-als-media-{k}",
            "media-path",
            f"Live Path and RelativePath {path[:60]!r}",
            als.session,
            on_text(als, _live_media_path(enc)),
            special=path.startswith(("/dev", "/proc")),
        )


def _rpp_session_bytes() -> bytes:
    return _fixture("fx-rpp").data()


def _hostile_audio_cases() -> Iterator[Case]:
    rpp, als = _fixture("fx-rpp"), _fixture("fx-als12")
    audio: list[tuple[str, str, Callable[[], bytes]]] = [
        ("corrupt-header", "RIFF followed by junk", lambda: b"RIFF" + random.Random(1).randbytes(200)),
        (
            "frames-2-31",
            "a WAV whose data chunk claims 2^31 frames (1 s present)",
            lambda: riff_wav(data=pcm16(1.0, 16000, 1), data_size=0xFFFFFFFE),
        ),
        (
            "aiff-frames-2-31",
            "an AIFF whose COMM claims 2^31 frames",
            lambda: aiff_claiming(2**31, pcm16(0.5, 16000, 2)),
        ),
        ("zero-frames", "a valid WAV with 0 frames", lambda: riff_wav(data=b"")),
        ("header-only", "a WAV cut inside the fmt chunk", lambda: riff_wav(data=pcm16(0.1, 16000, 3))[:30]),
        ("nan", "NaN samples in a float WAV", lambda: float_wav_with([float("nan")] * 3)),
        ("inf", "+inf and -inf samples", lambda: float_wav_with([float("inf"), float("-inf")])),
        ("huge-float", "finite samples of 3e38", lambda: float_wav_with([3e38, -3e38, 3e38])),
        ("huge-double", "64-bit float samples of 1e300", lambda: float_wav_with([1e300, -1e300], dtype="<f8")),
        (
            "denormal",
            "denormal samples only",
            lambda: riff_wav(fmt_tag=3, bits=32, data=np.full(8000, 1e-42, "<f4").tobytes()),
        ),
        ("ch32", "32 channels", lambda: wav_bytes(noise(0.2, 16000, 32, -20.0, 8), 16000, "PCM_16")),
        ("ch65535", "a header claiming 65535 channels", lambda: riff_wav(channels=65535, data=pcm16(0.1, 16000, 9))),
        ("ch0", "a header claiming 0 channels", lambda: riff_wav(channels=0, data=pcm16(0.1, 16000, 10))),
        ("rate8k", "8 kHz", lambda: wav_bytes(noise(1.0, 8000, 1, -20.0, 11), 8000, "PCM_16")),
        ("rate384k", "384 kHz", lambda: wav_bytes(noise(0.3, 384000, 2, -20.0, 12), 384000, "FLOAT")),
        ("rate1", "a header claiming 1 Hz", lambda: riff_wav(rate=1, data=pcm16(0.1, 16000, 13))),
        (
            "rate3000",
            "3 kHz (below the K-weighting shelf's Nyquist)",
            lambda: wav_bytes(noise(1.0, 3000, 1, -20.0, 14), 3000, "PCM_16"),
        ),
        ("rate0", "a header claiming 0 Hz", lambda: riff_wav(rate=0, data=pcm16(0.1, 16000, 15))),
        ("rate-max", "a header claiming 4294967295 Hz", lambda: riff_wav(rate=0xFFFFFFFF, data=pcm16(0.1, 16000, 16))),
        ("bits0", "0 bits per sample", lambda: riff_wav(bits=0, data=pcm16(0.1, 16000, 17))),
        ("text", "a text file named .wav", lambda: b"this is not audio\n" * 100),
        ("empty", "an empty file named .wav", lambda: b""),
        ("flac-junk", "fLaC magic then junk", lambda: b"fLaC" + random.Random(2).randbytes(500)),
        ("mp3-junk", "ID3 tag then junk", lambda: b"ID3\x03\x00\x00\x00\x00\x00\x10" + random.Random(3).randbytes(500)),
        ("session", "the session file itself", lambda: _rpp_session_bytes()),
    ]
    for cid, what, make in audio:
        yield Case(
            f"fx-rpp-audio-{cid}",
            "hostile-audio",
            f"REAPER clip media: {what}",
            rpp.session,
            _replacing(rpp, "media/a.wav", make),
        )
        yield Case(
            f"fx-als-audio-{cid}",
            "hostile-audio",
            f"Live clip media: {what}",
            als.session,
            _replacing(als, f"{LIVE_SAMPLES}/a.wav", make),
        )


# ---------------------------------------------------------------------------------------------------- the corpus


def cases(seed: int = DEFAULT_SEED, corpus: Path = CORPUS) -> list[Case]:
    """Every case, in a stable order (ids are unique)."""
    real = corpus_bases(corpus)
    fixtures = fixture_bases()
    out: list[Case] = []
    out += _mutation_cases(real, seed, 2, corpus=True)
    out += _mutation_cases(fixtures, seed, 8, corpus=False)
    out += _reencoding_cases((*real, *fixtures), seed)
    out += _random_cases(seed)
    out += _empty_cases()
    out += _huge_cases()
    out += _nesting_cases()
    out += _number_cases()
    out += _entity_cases()
    out += _gzip_cases()
    out += _extension_cases()
    out += _special_cases()
    out += _media_path_cases()
    out += _hostile_audio_cases()
    ids = [c.case_id for c in out]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return out


def sample(all_cases: Sequence[Case], n: int, seed: int = DEFAULT_SEED) -> list[Case]:
    """About `n` cases, seeded: classes share the sample by their size, and every class has at least 6 (or all)."""
    if n >= len(all_cases):
        return list(all_cases)
    rng = random.Random(seed)
    by_class: dict[str, list[Case]] = {}
    for c in all_cases:
        by_class.setdefault(c.cls, []).append(c)
    picked: list[Case] = []
    for members in by_class.values():
        share = max(6, round(n * len(members) / len(all_cases)))
        picked += rng.sample(members, min(share, len(members)))
    order = {c.case_id: i for i, c in enumerate(all_cases)}
    return sorted(picked, key=lambda c: order[c.case_id])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, nargs="?", help="folder to write the cases into (one sub-folder each)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--sample", type=int, default=0, help="only a seeded, stratified sample of this many cases")
    ap.add_argument("--list", action="store_true", help="list the cases (id, class, description); write nothing")
    opts = ap.parse_args(argv)
    chosen = cases(opts.seed)
    if opts.sample:
        chosen = sample(chosen, opts.sample, opts.seed)
    if opts.list or opts.out is None:
        sys.stdout.writelines(f"{c.case_id}\t{c.cls}\t{c.description}\n" for c in chosen)
        counts = {k: sum(c.cls == k for c in chosen) for k in CLASSES}
        sys.stderr.write(f"{len(chosen)} cases: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
        return 0
    index = []
    for c in chosen:
        session = c.materialize(opts.out / c.case_id)
        where = str(session.relative_to(opts.out)).encode("unicode_escape").decode()  # names may hold tabs
        index.append(f"{c.case_id}\t{c.cls}\t{where}\t{c.description}")
    (opts.out / "index.tsv").write_text("case\tclass\tsession\tdescription\n" + "\n".join(index) + "\n")
    sys.stderr.write(f"wrote {len(chosen)} cases to {opts.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
