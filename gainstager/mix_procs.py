"""The mix on worker processes: each plays whole parts of the session, the parent sums what reaches the master.

Threads share one interpreter lock, and the mix is too fine-grained for them: on two cores, two threads took 9.3
CPU-s for the 7.0 one thread needs, handing the lock back and forth (bench/bench_analyze.py, 16 x 5 min). So the
tracks are split into parts that share nothing until the master (`parts`: whole top-level subtrees, a folder
with everything under it), and each part plays in a process of its own, forked from this one (it inherits
the session, the routing and the meters, nothing is pickled). For every block each part writes what its
top-level tracks send the master into shared memory, summed on the exact grid of `mix.fixed_sum` (float64
integers: any order and grouping of the sum gives the same bits), and the parent adds the parts: the result does
not depend on the number of processes. One block's slots are 1 MiB per part, so `SLOT_SETS` sets let a part
play several blocks ahead of the parent's sum: the parts wait for each other only when one falls that far
behind. (With a slot per top-level track, 14 MB a set on the 32-track benchmark session, one set fitted in memory:
8.05 s there, against 7.0-7.4 s with two sets.) At the end each part sends back its levels and peaks (small).

Workers ignore Ctrl-C (the parent stops them) and never outlive the parent's mix. Linux only (fork); elsewhere
the mix stays on threads.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing as mp
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from . import heap
from .audio import BLOCK_FRAMES
from .kweighting import F64
from .model import Levels
from .routing import Routing

MIN_PLAYED_S = 600.0  # seconds of track audio (time x tracks) below which threads are quicker
SLOT_SETS = 4  # blocks a part may play ahead of the parent's sum (each set: 1 MiB per part)

Part = frozenset[str]
F32 = npt.NDArray[np.float32]
RenderPart = Callable[[Part, int, int], F64 | None]  # (part, start frame, count) -> what it sends the master


@dataclass(frozen=True, slots=True)
class PartResult:
    """What the tracks of one part of the mix measured (a worker process sends it back)."""

    clip_levels: Mapping[str, Mapping[str, Levels]]  # track id -> clip id -> levels
    track_levels: Mapping[str, Levels]  # tracks with a meter of their own, and groups
    peaks: Mapping[str, Mapping[str, tuple[int, F32]]]  # track id -> clip id -> (first block, block peaks)


def parts(r: Routing, threads: int) -> list[frozenset[str]]:
    """The tracks split into at most `threads` parts that share nothing until the master: each top-level
    subtree (a track that sums into the master, with everything under it; a track reaching no master on its
    own) whole in one part, the parts balanced by what they cost to play (`_work_of`)."""
    groups: dict[str, set[str]] = {}
    for t in r.order:
        top = t
        while r.bus.get(top) is not None:
            top = r.bus[top]  # type: ignore[assignment]  # (not None: checked by the loop)
        groups.setdefault(top, set()).add(t)
    work = {k: sum(_work_of(r, t) for t in g) for k, g in groups.items()}
    parts: list[set[str]] = [set() for _ in range(max(1, min(threads, len(groups))))]
    load = [0] * len(parts)
    for k in sorted(groups, key=lambda k: (-work[k], k)):
        i = load.index(min(load))
        parts[i] |= groups[k]
        load[i] += work[k]
    return [frozenset(p) for p in parts]


def _work_of(r: Routing, track_id: str) -> int:
    """What a track costs to play, in units of one channel-frame metered: each clip decoded and metered on its
    channels; the track's render, post-fader copy and sum into the master, 3/4 of one (whatever its channels);
    its own meter where it has several clips, 3/2 per channel (more clips, fades); a folder's meter on what its
    children send it, stereo, as long as its longest child. Fitted to the per-track CPU times of the 32-track
    benchmark session (mono clip 0.30 s, stereo 0.46 s, two mono clips 0.67 s per 5 minutes); frames alone had
    left its parts at 6.43 / 5.46 CPU-s."""
    ps = r.clips.get(track_id, ())
    frames = sum(r.frames[p.clip.clip_id] for p in ps)
    work = sum(p.out_channels * r.frames[p.clip.clip_id] for p in ps) + frames * 3 // 4
    if len(ps) > 1:
        work += r.width[track_id] * frames * 3 // 2
    if track_id in r.groups:
        children = [c for c, parent in r.bus.items() if parent == track_id]
        work += 2 * max((sum(r.frames[p.clip.clip_id] for p in r.clips.get(c, ())) for c in children), default=0)
    return work


def worth_it(top_tracks: int, played_s: float) -> bool:
    """Whether a mix of `played_s` seconds of track audio (the time it plays times its tracks) with this many
    top-level tracks should run on processes here: on Linux, with something to play, and long enough to pay
    for starting them (a 2-track, 1-minute session took 0.41 s on processes against 0.30 s on threads). Only from
    the main thread of a process that may have children: a Dask worker runs tasks on threads of a daemonic
    process, which multiprocessing does not let fork, and forking beside an event loop's thread is asking for a
    lock held forever."""
    return (
        sys.platform.startswith("linux")
        and top_tracks > 0
        and played_s >= MIN_PLAYED_S
        and threading.current_thread() is threading.main_thread()
        and not mp.current_process().daemon
    )


def run(
    blocks: Sequence[tuple[int, int]],
    parts: Sequence[Part],
    render: RenderPart,
    finish: Callable[[Part], Any],
    add_block: Callable[[int, int, list[F64]], None],
    progress: Callable[[float], None] | None,
) -> list[Any]:
    """Play `blocks` ((start frame, count), in order) with one process per part: `render(part, start, count)` in
    the process gives what the part sends the master ((2, count) float64, or None); the parent calls
    `add_block(start, count, sums)` with those of all parts, in the order of `parts`. Returns `finish(part)` of
    each part, computed in its process after the last block. An exception in a part is raised here."""
    sets = min(SLOT_SETS, len(blocks))
    slots = mmap.mmap(-1, max(1, sets * len(parts) * 2 * BLOCK_FRAMES * 8))
    shared = np.frombuffer(slots, dtype=np.float64, count=sets * len(parts) * 2 * BLOCK_FRAMES)
    shared = shared.reshape(sets, len(parts), 2, BLOCK_FRAMES)
    context = mp.get_context("fork")
    workers: list[tuple[Any, Connection]] = []
    workers_done = False
    sys.stdout.flush()  # (a child must not write out what this process had buffered)
    sys.stderr.flush()
    try:
        for k, part in enumerate(parts):
            ours, theirs = context.Pipe()
            # (a forked child holds copies of every descriptor: it closes this side's ends of the pipes, so that
            # it sees the end of its own pipe when this process is gone, even killed)
            args = (part, blocks, shared[:, k], render, finish, theirs, [ours, *(c for _, c in workers)])
            process = context.Process(target=_work, args=args, daemon=True, name="gainstager-mix")
            # Ctrl-C is held back while forking: the child ignores it before it can arrive, and here it arrives
            # once the child is started, as KeyboardInterrupt, which stops every child (below).
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                with warnings.catch_warnings():  # (Python 3.12+ warns about forking a process with threads;
                    warnings.simplefilter("ignore", DeprecationWarning)  # the child runs only our code)
                    process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            theirs.close()
            workers.append((process, ours))
        for i in range(sets):
            for _, conn in workers:
                conn.send(i)
        total = sum(count for _, count in blocks)
        finished = 0
        for i, (start, count) in enumerate(blocks):
            played = [k for k, (_, conn) in enumerate(workers) if _reply(conn)]
            add_block(start, count, [shared[i % sets, k, :, :count] for k in played])
            if i + sets < len(blocks):  # the slots of block i are free again
                for _, conn in workers:
                    conn.send(i + sets)
            finished += count
            if progress is not None:
                progress(finished / total)
        for _, conn in workers:
            conn.send(None)
        results = [_reply(conn) for _, conn in workers]  # each worker exits once it has sent them
        workers_done = True
        return results
    finally:
        for process, conn in workers:
            conn.close()
            if process.is_alive() and not workers_done:
                process.terminate()
            process.join()
        # (the shared memory is unmapped with its last view)


def _reply(conn: Connection) -> Any:
    """A worker's answer; the Python warnings it raised are raised again here, where `notices` records them."""
    try:
        kind, value, caught = conn.recv()
    except EOFError:
        raise RuntimeError("a mix worker process stopped unexpectedly") from None
    for category, text in caught:
        warnings.warn(text, category, stacklevel=2)
    if kind == "raise":
        raise value
    return value


def _taken(caught: list[warnings.WarningMessage]) -> list[tuple[type[Warning], str]]:
    """The warnings caught so far, as (category, message), emptying the list."""
    out = [(w.category, str(w.message)) for w in caught]
    caught.clear()
    return out


def _work(
    part: Part,
    blocks: Sequence[tuple[int, int]],
    shared: np.ndarray,
    render: RenderPart,
    finish: Callable[[Part], Any],
    conn: Connection,
    parent_ends: Sequence[Connection],
) -> None:
    """A worker: play the blocks it is told, in order; then send its results. Never raises."""
    for end in parent_ends:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers on Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # and ends them with SIGTERM (not the handler of a batch worker)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    heap.keep_freed_memory()  # a worker is ours (see `heap`)
    with warnings.catch_warnings(record=True) as caught:  # sent to the parent with each answer
        warnings.simplefilter("always")
        try:
            while (i := conn.recv()) is not None:
                start, count = blocks[i]
                out = render(part, start, count)
                if out is not None:
                    shared[i % len(shared), :, :count] = out
                conn.send(("ok", out is not None, _taken(caught)))
            conn.send(("ok", finish(part), _taken(caught)))
        except (EOFError, BrokenPipeError):  # the parent is gone
            pass
        except BaseException as exc:  # sent to the parent, which raises it
            try:
                pickle.dumps(exc)
            except Exception:  # an exception that does not pickle
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):  # (the parent is gone)
                conn.send(("raise", exc, _taken(caught)))

