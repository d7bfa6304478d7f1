"""Sliding-window memory: a 6000x6000 RGB image with 6 classes is predicted in under 2 GiB."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

LIMIT_MIB = 2048

# The child process predicts through the whole file pipeline (decode, sliding window with blending,
# index + colour + overlay outputs) and reports its own peak RSS. The model is pointwise (a 1x1
# convolution): the network's activations are bounded by the tile size whatever the image size, so
# what is measured is the pipeline, at a cost that suits a unit test. benchmarks/bench_predict.py
# measures the same with a U-Net checkpoint through the CLI.
CHILD = textwrap.dedent(
    """
    import resource, sys, torch
    from segwise.data.spec import DatasetSpec
    from segwise.infer import Predictor, predict_paths
    torch.manual_seed(0)
    spec = DatasetSpec("big", ("a", "b", "c", "d", "e", "f"))
    predictor = Predictor(torch.nn.Conv2d(3, 6, 1), spec, tile=1024, overlap=0.1, batch_size=2)
    summary = predict_paths(predictor, sys.argv[1], sys.argv[2], save=("index", "color", "overlay"))
    assert not summary.failed, summary.failed
    # VmHWM: this process's own peak; ru_maxrss would also count the parent's RSS at fork time
    status = open("/proc/self/status").read() if sys.platform == "linux" else ""
    hwm = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
    print((hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) // 1024)
    """
)


@pytest.mark.slow
def test_6000x6000_image_predicts_in_under_2_gib(tmp_path):
    ramp = np.arange(6000, dtype=np.uint16)
    image = np.empty((6000, 6000, 3), np.uint8)
    image[..., 0] = (ramp % 256)[None, :]
    image[..., 1] = (ramp % 256)[:, None]
    image[..., 2] = ((ramp[None, :] // 7 + ramp[:, None] // 11) % 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    del image
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "big.png"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    peak_mib = int(proc.stdout.strip().splitlines()[-1])
    print(f"peak RSS {peak_mib} MiB")
    assert peak_mib < LIMIT_MIB
    index = cv2.imread(str(tmp_path / "out" / "index" / "big.png"), cv2.IMREAD_UNCHANGED)
    assert index.shape == (6000, 6000) and index.max() < 6
