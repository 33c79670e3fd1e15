"""Audio file access: the only module that imports soundfile.

Everything hands out float arrays shaped (frames, channels). Reads are bounded in size, so memory stays
flat however long a file is. Errors become `AudioError` with the file named.

A plain little-endian PCM WAV (16-, 24- or 32-bit integer, or 32-bit float: what DAWs record and bounce) is
decoded by numpy straight from its bytes (`_PcmWav`), with the very same float32 values: libsndfile still opens
and checks every file, and any header our reading of the chunks does not agree with goes through libsndfile.
A 24-bit stereo file of 5 minutes decodes in 0.043 s instead of libsndfile's 0.165 s (its 24-bit conversion is
the slow part, METERING.md §8); tests/test_audio.py holds it to libsndfile's values, sample for sample.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import numpy.typing as npt
import soundfile as sf

from . import files
from .errors import AudioError

BLOCK_FRAMES = 1 << 16  # frames per block when streaming (1.4 s at 48 kHz)

# What a media file may be. Outside these, the file is refused with the reason (its clip is skipped).
RATE_RANGE_HZ = (4000, 768_000)  # the K-weighting shelf (1.7 kHz) needs a Nyquist above it; 768 kHz: top DAW rate
MAX_CHANNELS = 64  # 7th-order Ambisonics; a block of 64 channels is 16 MiB of float32
MAX_DURATION_S = 86_400.0  # a day: no session plays more of one file (the parsers' longest clip)
# Samples beyond +120 dBFS are not audio (a float file's overs rarely pass +12 dBFS), and far below them the sums of
# a session's gains stay finite in float32. NaN and infinities are refused too (they would poison every meter).
MAX_SAMPLE = 1e6

FloatArray = npt.NDArray[np.floating]


@dataclass(frozen=True, slots=True)
class AudioInfo:
    path: str
    sample_rate_hz: int
    channels: int
    frames: int
    format: str  # container, e.g. "WAV", "FLAC"
    subtype: str  # sample format, e.g. "PCM_24"

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz if self.sample_rate_hz else 0.0


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    # soundfile names what it opened, here a descriptor number: "Error opening 3: Format not recognised."
    return re.sub(r"^Error opening \d+: ", "", text[-1]) if text else type(exc).__name__


def _open(path: str) -> sf.SoundFile:
    """A regular file opened as audio, its header checked. Never blocks: a FIFO, a device or a directory is refused
    from its open descriptor (O_NONBLOCK, then fstat), so swapping the file in between changes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise AudioError(f"{path}: cannot open audio ({exc.strerror or exc})") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise AudioError(f"{path}: cannot open audio ({files.kind(mode)}); expected a regular audio file")
    try:
        f = sf.SoundFile(fd, closefd=True)  # libsndfile owns the descriptor now, and closes it on failure too
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError
        raise AudioError(f"{path}: cannot open audio ({_describe(exc)})") from exc
    try:
        _check_header(path, int(f.samplerate), int(f.channels), int(f.frames))
    except AudioError:
        f.close()
        raise
    return f


def _check_header(path: str, rate: int, channels: int, frames: int) -> None:
    low, high = RATE_RANGE_HZ
    if not low <= rate <= high:
        raise AudioError(f"{path}: sample rate ({rate} Hz); expected {low} to {high} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{path}: channel count ({channels}); expected 1 to {MAX_CHANNELS}")
    if not 0 <= frames <= MAX_DURATION_S * rate:
        shown = f"{frames} frames, {frames / rate:.0f} s"
        raise AudioError(f"{path}: length ({shown}); expected at most {MAX_DURATION_S:g} s")


def _checked(path: str, block: FloatArray, first_frame: int) -> FloatArray:
    """`block`, if every sample is finite and within ±MAX_SAMPLE; else AudioError naming the first bad frame."""
    if block.size and not (block.max() <= MAX_SAMPLE and block.min() >= -MAX_SAMPLE):  # NaN compares False
        bad = int(np.flatnonzero(~(np.abs(block) <= MAX_SAMPLE).all(axis=1))[0])
        value = float(block[bad][~(np.abs(block[bad]) <= MAX_SAMPLE)][0])
        raise AudioError(
            f"{path}: sample {value!r} at frame {first_frame + bad}; expected finite samples within ±{MAX_SAMPLE:g}"
        )
    return block


# libsndfile's subtypes decoded from the bytes: bytes per sample, and whether they are IEEE floats.
_PCM_SUBTYPES = {"PCM_16": (2, False), "PCM_24": (3, False), "PCM_32": (4, False), "FLOAT": (4, True)}
_WAVE_FORMAT_PCM, _WAVE_FORMAT_FLOAT, _WAVE_FORMAT_EXTENSIBLE = 1, 3, 0xFFFE
_HEADER_CHUNKS = 64  # chunks looked at before the data chunk (a WAV has a handful)


@dataclass(frozen=True, slots=True)
class _PcmWav:
    """Where the samples of a plain PCM WAV lie, and how to turn its bytes into float32 as libsndfile does:
    an integer sample left-justified in 32 bits times 2^-31 (exact for 16 and 24 bits; for 32 bits the int32 is
    rounded to float32 first, as libsndfile's cast does), a float sample as it is."""

    data_offset: int  # byte offset of frame 0
    sample_bytes: int
    is_float: bool
    channels: int

    @staticmethod
    def find(fd: int, f: sf.SoundFile) -> _PcmWav | None:
        """The layout of the open file `f` (descriptor `fd`), or None when libsndfile should decode it: another
        container or sample format, or chunks that do not agree with what libsndfile read from the header."""
        kind = _PCM_SUBTYPES.get(f.subtype)
        if f.format not in ("WAV", "WAVEX") or kind is None or f.endian not in ("FILE", "LITTLE"):
            return None
        size, is_float = kind
        channels, frames = int(f.channels), int(f.frames)
        try:
            head = os.pread(fd, 12, 0)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
                return None
            pos, fmt = 12, None
            for _ in range(_HEADER_CHUNKS):
                chunk = os.pread(fd, 8, pos)
                if len(chunk) < 8:
                    return None
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"fmt ":
                    fmt = os.pread(fd, min(length, 40), pos + 8)
                elif name == b"data":
                    if fmt is None or not _fmt_agrees(fmt, channels, size, is_float):
                        return None
                    # libsndfile's frame count must be what the chunk holds (a chunk size it corrected, e.g. an
                    # unfinished recording's, goes through libsndfile), and every frame must be in the file.
                    if length // (channels * size) != frames or pos + 8 + length > os.fstat(fd).st_size:
                        return None
                    return _PcmWav(pos + 8, size, is_float, channels)
                pos += 8 + length + (length & 1)
        except OSError:
            return None
        return None

    def read_into(self, fd: int, out: FloatArray, first_frame: int) -> int:
        """Decode frames from `first_frame` into `out` (float32, (frames, channels), C-contiguous); the number of
        frames read (fewer at the end of the file)."""
        size = self.sample_bytes
        want = len(out) * self.channels
        # A 24-bit sample is read as the int32 ending with its three bytes: one byte of lead-in before the first.
        lead = 1 if size == 3 else 0
        view = _read_buffer(want * size + lead)
        got = os.preadv(fd, [view], self.data_offset + first_frame * self.channels * size - lead)
        raw = view[:got]
        count = max(got - lead, 0) // size  # (nothing, past the end of a file cut short since it was opened)
        flat = out.reshape(-1)[:count]
        if size == 3:
            words = np.ndarray((count,), dtype="<i4", buffer=raw, strides=(3,))
            np.multiply(words & -256, np.float32(2.0**-31), out=flat, casting="unsafe")
        elif self.is_float:
            flat[:] = np.frombuffer(raw, dtype="<f4", count=count)
        elif size == 2:
            np.multiply(np.frombuffer(raw, dtype="<i2", count=count), np.float32(2.0**-15), out=flat)
        else:
            flat[:] = np.frombuffer(raw, dtype="<i4", count=count)  # rounded to float32 first, as libsndfile
            flat *= np.float32(2.0**-31)
        return count // self.channels


_THREAD = threading.local()


def _read_buffer(size: int) -> memoryview:
    """`size` bytes of this thread's read buffer. One per thread, reused by every file it reads: no new pages for
    every block, and memory that does not grow with the number of open files (a session has thousands)."""
    buffer: bytearray | None = getattr(_THREAD, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _THREAD.buffer = bytearray(size)
    return memoryview(buffer)[:size]


def _fmt_agrees(fmt: bytes, channels: int, size: int, is_float: bool) -> bool:
    """Whether a fmt chunk describes interleaved samples of `size` bytes on `channels` channels, of the kind
    libsndfile reported."""
    if len(fmt) < 16:
        return False
    tag, chans, _, _, align, bits = (int(v) for v in struct.unpack("<HHIIHH", fmt[:16]))
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 26:
            return False
        tag = int(struct.unpack("<H", fmt[24:26])[0])  # the first two bytes of the sub-format GUID
    expected = _WAVE_FORMAT_FLOAT if is_float else _WAVE_FORMAT_PCM
    return tag == expected and chans == channels and align == channels * size and bits == 8 * size


def probe(path: str) -> AudioInfo:
    """Header facts of an audio file; AudioError if it cannot be opened as audio."""
    with _open(path) as f:
        return AudioInfo(path, int(f.samplerate), int(f.channels), int(f.frames), f.format, f.subtype)


class AudioReader:
    """Random access to one file: `read(start, frames)` returns exactly `frames` rows, zero-padded where the
    request lies outside the file. Use as a context manager."""

    def __init__(self, path: str, dtype: str = "float32") -> None:
        self.path = path
        self.dtype = dtype
        self._file = _open(path)
        self.info = AudioInfo(
            path,
            int(self._file.samplerate),
            int(self._file.channels),
            int(self._file.frames),
            self._file.format,
            self._file.subtype,
        )
        fd = int(self._file.name)  # _open hands libsndfile a descriptor: its name
        self._pcm = _PcmWav.find(fd, self._file) if dtype == "float32" else None
        self._pos = 0

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def read(self, start: int, frames: int) -> FloatArray:
        out = np.zeros((max(frames, 0), self.info.channels), dtype=self.dtype)
        self.read_into(out, start)
        return out

    def read_into(self, out: FloatArray, start: int) -> int:
        """Frames [start, start + len(out)) decoded straight into `out` (C-contiguous, (frames, channels), of this
        reader's dtype), zero where the request lies outside the file (or past a file cut short since it was
        opened); the number of frames decoded from `start` on."""
        frames = len(out)
        lo, hi = max(start, 0), min(start + frames, self.info.frames)
        got = 0
        if hi > lo:
            part = out[lo - start : hi - start]
            try:
                if self._pcm is not None:
                    got = self._pcm.read_into(int(self._file.name), part, lo)
                else:
                    if self._pos != lo:
                        self._file.seek(lo)
                    got = len(self._file.read(hi - lo, dtype=self.dtype, always_2d=True, out=part))
                    self._pos = lo + got
            except Exception as exc:
                raise AudioError(f"{self.path}: cannot decode frames {lo}..{hi} ({_describe(exc)})") from exc
            if self._pcm is None or self._pcm.is_float:  # integer PCM is within [-1, 1) by construction
                _checked(self.path, part[:got], lo)
        out[: max(lo - start, 0)] = 0.0
        out[max(lo - start, 0) + got :] = 0.0
        return got


def read_blocks(
    path: str,
    start_frame: int = 0,
    frames: int | None = None,
    *,
    block_frames: int = BLOCK_FRAMES,
    dtype: str = "float32",
) -> Iterator[FloatArray]:
    """Stream `frames` frames from `start_frame` (default: to the end) in blocks of `block_frames`."""
    with AudioReader(path, dtype) as reader:
        total = reader.info.frames - start_frame if frames is None else min(frames, reader.info.frames - start_frame)
        for at in range(start_frame, start_frame + max(total, 0), block_frames):
            block = np.empty((min(block_frames, start_frame + total - at), reader.info.channels), dtype=dtype)
            got = reader.read_into(block, at)
            if got:
                yield block[:got]
            if got < len(block):  # the file was cut short
                return


def write(path: str, data: FloatArray, sample_rate_hz: int, subtype: str = "PCM_24") -> None:
    """Write an audio file (fixtures, tests and benchmarks use this, never the session pipeline)."""
    try:
        sf.write(path, data, sample_rate_hz, subtype=subtype)
    except Exception as exc:
        raise AudioError(f"{path}: cannot write audio ({_describe(exc)})") from exc
