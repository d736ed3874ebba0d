"""Build tasks run OpenCV on one thread (the build runs one task per core) and hand the caller
back its own thread count."""

from __future__ import annotations

import cv2
import pytest

from pipeline.threads import single_threaded


def test_opencv_runs_on_one_thread_inside_and_as_before_after():
    cv2.setNumThreads(3)
    try:
        with single_threaded():
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 3
        with pytest.raises(RuntimeError), single_threaded():
            raise RuntimeError("a failing task")
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(-1)  # OpenCV's default
