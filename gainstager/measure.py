"""File-level metering: path -> `FileLevels`, reading through `audio` and metering with `meters`.

Decoding and metering overlap: one thread decodes blocks (libsndfile runs without the GIL) while the
calling thread meters the previous block (numpy/BLAS also run without the GIL), so on two cores a file
costs about max(decode, meter) rather than their sum. Memory stays flat: at most a few blocks are in
flight. `measure_files` measures several files on `jobs` threads and yields results in input order; a
file that cannot be read yields its `AudioError` and the others go on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from . import audio
from .errors import AudioError
from .meters import Meter
from .model import FileLevels

DECODE_BLOCK_FRAMES = 1 << 18  # 5.5 s at 48 kHz: few Python round trips, a few MB per block
_QUEUE_DEPTH = 3  # decoded blocks waiting for the meter (bounds memory)
_DONE = object()


def measure_file(path: str) -> FileLevels:
    """Measure every level of one audio file; `AudioError` (naming the path) if it cannot be read."""
    info = audio.probe(path)
    # Metering the channels on a second pool as well was measured slower: the decode thread already
    # keeps the other core busy, and more threads only contend for the GIL.
    return _decode_and_meter(path, info.sample_rate_hz, info.channels, Meter(info.sample_rate_hz, info.channels))


def _decode_and_meter(path: str, sample_rate_hz: int, channels: int, meter: Meter) -> FileLevels:
    blocks: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()

    def put(item: object) -> bool:
        """Hand `item` to the metering thread; False once it has stopped listening."""
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for block in audio.read_blocks(path, block_frames=DECODE_BLOCK_FRAMES):
                if not put(block):
                    return
            item: object = _DONE
        except BaseException as exc:  # handed to the metering thread, which re-raises it
            item = exc
        put(item)

    worker = threading.Thread(target=decode, name=f"decode {path}", daemon=True)
    worker.start()
    try:
        while True:
            item = blocks.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                if isinstance(item, AudioError):
                    raise item
                raise AudioError(f"{path}: cannot decode audio ({item})") from item
            meter.feed(item)  # type: ignore[arg-type]
    finally:
        stop.set()
        worker.join()
    return FileLevels(path, sample_rate_hz, channels, meter.result())


def _measure_or_error(path: str) -> FileLevels | AudioError:
    try:
        return measure_file(path)
    except AudioError as exc:
        return exc


def measure_files(paths: Sequence[str], *, jobs: int = 2) -> Iterator[FileLevels | AudioError]:
    """Measure `paths` on `jobs` threads; yield each `FileLevels`, or the `AudioError` of a file that cannot
    be read, in input order. One failure never stops the rest."""
    if jobs < 1:
        raise ValueError(f"jobs: got {jobs}; expected 1 or more")
    if jobs == 1 or len(paths) <= 1:
        for p in paths:
            yield _measure_or_error(p)
        return
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="measure") as pool:
        # Submit lazily, keeping at most `jobs` files ahead of the consumer, so memory stays bounded.
        pending: list[Future[FileLevels | AudioError]] = []
        it = iter(paths)
        for p in it:
            pending.append(pool.submit(_measure_or_error, p))
            if len(pending) >= jobs:
                break
        while pending:
            result = pending.pop(0).result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_measure_or_error, nxt))
            yield result
