import numpy as np
import pytest

from conftest import VIDEOS, need, write_frames
from fsar_bench.data.video import VideoError, count_frames, read_frames


@pytest.mark.parametrize("name,frames", [("demo.mp4", 280), ("test.mp4", 300), ("test.avi", 164)])
def test_real_videos_decode_to_their_true_frame_counts(name, frames):
    path = need(VIDEOS / name)
    assert count_frames(path) == frames
    clip = read_frames(path, [frames - 1, 0, 5, 5])
    assert clip.dtype == np.uint8 and clip.shape[0] == 4 and clip.shape[-1] == 3
    assert np.array_equal(clip[2], clip[3])
    assert not np.array_equal(clip[0], clip[1])  # first and last frames differ
    with pytest.raises(VideoError, match="beyond the end"):
        read_frames(path, [frames])


def test_frame_folder_order_and_bounds(tmp_path):
    write_frames(tmp_path / "v", 12)
    assert count_frames(tmp_path / "v") == 12
    a = read_frames(tmp_path / "v", [3])
    b = read_frames(tmp_path / "v", [0, 3])
    assert np.array_equal(a[0], b[1])
    with pytest.raises(VideoError, match="frame 12 requested"):
        read_frames(tmp_path / "v", [12])


def test_corrupt_video_is_a_video_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(VideoError, match="cannot decode"):
        count_frames(bad)
    with pytest.raises(VideoError):
        read_frames(bad, [0])
