"""Audio file access: the only module that imports soundfile.

Everything hands out float arrays shaped (frames, channels). Reads are bounded in size, so memory stays
flat however long a file is. Errors become `AudioError` with the file named.
"""

from __future__ import annotations

import os
import re
import stat
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

    def read_into(self, out: FloatArray, start: int) -> None:
        """Frames [start, start + len(out)) decoded straight into `out` (C-contiguous, (frames, channels), of this
        reader's dtype), zero where the request lies outside the file."""
        frames = len(out)
        lo, hi = max(start, 0), min(start + frames, self.info.frames)
        got = 0
        if hi > lo:
            try:
                if self._pos != lo:
                    self._file.seek(lo)
                got = len(self._file.read(hi - lo, dtype=self.dtype, always_2d=True, out=out[lo - start : hi - start]))
            except Exception as exc:
                raise AudioError(f"{self.path}: cannot decode frames {lo}..{hi} ({_describe(exc)})") from exc
            self._pos = lo + got
            _checked(self.path, out[lo - start : lo - start + got], lo)
        out[: max(lo - start, 0)] = 0.0
        out[max(lo - start, 0) + got :] = 0.0


def read_blocks(
    path: str,
    start_frame: int = 0,
    frames: int | None = None,
    *,
    block_frames: int = BLOCK_FRAMES,
    dtype: str = "float32",
) -> Iterator[FloatArray]:
    """Stream `frames` frames from `start_frame` (default: to the end) in blocks of `block_frames`."""
    try:
        with _open(path) as f:
            total = f.frames if frames is None else min(frames, max(f.frames - start_frame, 0))
            if start_frame:
                f.seek(start_frame)
            remaining = total
            while remaining > 0:
                block = f.read(min(block_frames, remaining), dtype=dtype, always_2d=True)
                if len(block) == 0:
                    break
                yield _checked(path, block, start_frame + total - remaining)
                remaining -= len(block)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode audio ({_describe(exc)})") from exc


def write(path: str, data: FloatArray, sample_rate_hz: int, subtype: str = "PCM_24") -> None:
    """Write an audio file (fixtures, tests and benchmarks use this, never the session pipeline)."""
    try:
        sf.write(path, data, sample_rate_hz, subtype=subtype)
    except Exception as exc:
        raise AudioError(f"{path}: cannot write audio ({_describe(exc)})") from exc
