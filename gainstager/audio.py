"""Audio file access: the only module that imports soundfile.

Everything hands out float arrays shaped (frames, channels). Reads are bounded in size, so memory stays
flat however long a file is. Errors become `AudioError` with the file named.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import numpy.typing as npt
import soundfile as sf

from .errors import AudioError

BLOCK_FRAMES = 1 << 16  # frames per block when streaming (1.4 s at 48 kHz)

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
    return text[-1] if text else type(exc).__name__


def probe(path: str) -> AudioInfo:
    """Header facts of an audio file; AudioError if it cannot be opened as audio."""
    try:
        info = sf.info(path)
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError
        raise AudioError(f"{path}: cannot open audio ({_describe(exc)})") from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError(
            f"{path}: invalid audio header (rate {info.samplerate} Hz, {info.channels} channels); "
            "expected a positive rate and channel count"
        )
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


class AudioReader:
    """Random access to one file: `read(start, frames)` returns exactly `frames` rows, zero-padded where the
    request lies outside the file. Use as a context manager."""

    def __init__(self, path: str, dtype: str = "float32") -> None:
        self.path = path
        self.dtype = dtype
        try:
            self._file = sf.SoundFile(path)
        except Exception as exc:
            raise AudioError(f"{path}: cannot open audio ({_describe(exc)})") from exc
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
        with sf.SoundFile(path) as f:
            total = f.frames if frames is None else min(frames, max(f.frames - start_frame, 0))
            if start_frame:
                f.seek(start_frame)
            remaining = total
            while remaining > 0:
                block = f.read(min(block_frames, remaining), dtype=dtype, always_2d=True)
                if len(block) == 0:
                    break
                remaining -= len(block)
                yield block
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
