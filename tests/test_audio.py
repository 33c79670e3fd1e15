"""The decoder: every read gives libsndfile's float32 samples exactly, whichever path decodes them.

A plain PCM or float WAV is decoded by numpy from its bytes (`audio._PcmWav`); the reference here is
`soundfile.read` on the same file, i.e. libsndfile's own conversion. Files with unusual chunks, truncated data and
files cut short after opening are built byte by byte.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gainstager import audio
from gainstager.errors import AudioError

RATE = 48000


def _signal(frames: int, channels: int, seed: int) -> np.ndarray:
    """Noise over the whole range, with both full-scale extremes and silence in it."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, (frames, channels))
    x[0], x[1], x[2] = 1.0, -1.0, 0.0
    return x


def _reference(path: Path) -> np.ndarray:
    data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return np.asarray(data)


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_plain_wav_is_decoded_exactly_as_libsndfile(
    tmp_path: Path, container: str, subtype: str, channels: int
) -> None:
    path = tmp_path / "a.wav"
    sf.write(str(path), _signal(5003, channels, channels), RATE, subtype=subtype, format=container)
    expected = _reference(path)
    with audio.AudioReader(str(path)) as reader:
        assert reader._pcm is not None  # the numpy path decodes it
        whole = reader.read(0, 5003)
        # Reads that start before the file, straddle its end, or lie wholly outside it: zeros there.
        early = reader.read(-7, 20)
        late = reader.read(4990, 30)
        outside = reader.read(6000, 10)
        odd = reader.read(1234, 777)
    assert np.array_equal(whole, expected)
    assert np.array_equal(early[7:], expected[:13]) and not early[:7].any()
    assert np.array_equal(late[:13], expected[4990:]) and not late[13:].any()
    assert not outside.any()
    assert np.array_equal(odd, expected[1234:2011])
    blocks = np.concatenate(list(audio.read_blocks(str(path), 100, 4000, block_frames=999)))
    assert np.array_equal(blocks, expected[100:4100])


def _riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WAVE" + b"".join(
        name + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1) for name, data in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _fmt(channels: int, bits: int, tag: int = 1) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, RATE, RATE * align, align, bits)


def _pcm24(x: np.ndarray) -> bytes:
    ints = np.clip(np.round(x * 2**23), -(2**23), 2**23 - 1).astype("<i4").reshape(-1)
    return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def test_chunks_of_odd_length_before_and_after_the_data(tmp_path: Path) -> None:
    x = _signal(1001, 2, 7)
    path = tmp_path / "odd.wav"
    path.write_bytes(
        _riff(
            (b"fmt ", _fmt(2, 24)),
            (b"LIST", b"INFOISFT\x03\x00\x00\x00ab\x00"),
            (b"data", _pcm24(x)),
            (b"id3 ", b"xyz"),
        )
    )
    with audio.AudioReader(str(path)) as reader:
        assert reader._pcm is not None
        got = reader.read(0, 1001)
    assert np.array_equal(got, _reference(path))


def test_data_chunk_longer_than_the_file_goes_through_libsndfile(tmp_path: Path) -> None:
    """An unfinished recording: the data chunk claims more than the file holds."""
    x = _signal(2000, 2, 8)
    data = _riff((b"fmt ", _fmt(2, 24)), (b"data", _pcm24(x)))
    path = tmp_path / "short.wav"
    path.write_bytes(data[: len(data) - 3 * 2 * 500])  # the last 500 frames are missing
    expected = _reference(path)
    with audio.AudioReader(str(path)) as reader:
        got = reader.read(0, reader.info.frames)
    assert np.array_equal(got, expected)
    assert np.array_equal(got[:1000], np.asarray(sf.read(str(path), frames=1000, dtype="float32")[0]))


def test_a_file_cut_short_after_opening_reads_as_silence_where_it_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(str(path), _signal(4000, 2, 9), RATE, subtype="PCM_24")
    expected = _reference(path)
    with audio.AudioReader(str(path)) as reader:
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size - 3 * 2 * 1000)  # 1000 frames gone
        out = np.ones((4000, 2), dtype=np.float32)
        got = reader.read_into(out, 0)
        beyond = np.ones((100, 2), dtype=np.float32)
        got_beyond = reader.read_into(beyond, 3500)
    assert got == 3000
    assert np.array_equal(out[:3000], expected[:3000]) and not out[3000:].any()
    assert got_beyond == 0 and not beyond.any()


def test_a_float_wav_with_a_non_finite_sample_is_an_error_naming_the_frame(tmp_path: Path) -> None:
    x = _signal(3000, 1, 10)
    x[2500, 0] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, RATE, subtype="FLOAT")
    with audio.AudioReader(str(path)) as reader, pytest.raises(AudioError, match=r"nan\.wav.*2500"):
        reader.read(0, 3000)
