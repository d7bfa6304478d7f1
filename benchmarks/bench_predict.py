"""Prediction throughput: PyTorch eager vs onnxruntime, the sliding window, and peak memory.

Run:  python benchmarks/bench_predict.py [--camvid DIR] [--images 12] [--arch unet --encoder resnet18]
                                         [--big 6000] [--sections whole,slide,memory]

1. Whole images, CamVid size (360x480): the same checkpoint predicted by segwise's Predictor with
   PyTorch eager (fp32, inference mode) and with onnxruntime (the model from ``segwise export``),
   img/s side by side, plus the raw forward pass of each. Images: CamVid test images when found
   ($SEGWISE_CAMVID), else random ones. Weights are random (no download); speed does not care.
2. Sliding window: one 2048x2048 image, tile 512, overlap 0.25, one window per forward pass,
   megapixels/s for both backends, each against the peer: the straightforward implementation
   (mmseg's ``slide_inference`` pattern) that accumulates full-resolution float32 maps for every
   class and a count map. Best of ``--repeats`` interleaved runs.
3. Memory: ``segwise predict --tile 1024 --overlap 0.1`` on a BIGxBIG RGB PNG with 6 classes and a
   tiny U-Net checkpoint, in a child process; prints the child's peak RSS (VmHWM) and time, and the
   same for the peer in a child process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from segwise.data.readers import read_image
from segwise.data.spec import DatasetSpec
from segwise.infer import OnnxModel, Predictor, export_onnx, load_checkpoint_model
from segwise.models import create_model
from segwise.models.checkpoint import build_payload, save_checkpoint

CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Sidewalk",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)


def camvid_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("SEGWISE_CAMVID")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"


def checkpoint(path: Path, spec: DatasetSpec, arch: str, encoder: str | None, **options) -> Path:
    torch.manual_seed(0)
    model = create_model(arch, spec.num_classes, encoder=encoder, **options)
    save_checkpoint(path, build_payload(model, spec, {}))
    return path


def naive_slide(image: np.ndarray, model, spec: DatasetSpec, tile: int, overlap: float) -> np.ndarray:
    """The peer: full-resolution (C, H, W) float32 sums and a count map, as mmseg's slide_inference."""
    from segwise.infer.predict import to_input, window_starts

    h, w = image.shape[:2]
    preds = torch.zeros(spec.num_classes, h, w)
    count = torch.zeros(h, w)
    for y in window_starts(h, tile, overlap):
        for x in window_starts(w, tile, overlap):
            crop = to_input(image[None, y : y + tile, x : x + tile], spec, torch.device("cpu"))
            with torch.inference_mode():
                preds[:, y : y + tile, x : x + tile] += model(crop)[0].softmax(0)
            count[y : y + tile, x : x + tile] += 1
    return (preds / count).argmax(0).numpy().astype(np.uint8)


def section_whole(args, spec: DatasetSpec, ckpt: Path, onnx_path: Path) -> None:
    root = camvid_dir(args.camvid)
    files = sorted((root / "test").glob("*.png"))[: args.images]
    if files:
        images = [read_image(p) for p in files]
        source = f"{len(images)} CamVid test images"
    else:
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (360, 480, 3), dtype=np.uint8) for _ in range(args.images)]
        source = f"{len(images)} random 360x480 images (CamVid not found)"
    torch_p = Predictor.from_checkpoint(ckpt)
    onnx_p = Predictor.from_onnx(onnx_path)
    x = torch.randn(1, 3, 360, 480)
    print(f"\n1. Whole images: {source}; {args.arch}/{args.encoder}; best of {args.repeats} interleaved runs")

    def forward_torch() -> None:
        with torch.inference_mode():
            for _ in images:
                torch_p.model(x)

    runs = {
        ("PyTorch eager", "predict"): lambda: [torch_p.predict(im) for im in images],
        ("onnxruntime", "predict"): lambda: [onnx_p.predict(im) for im in images],
        ("PyTorch eager", "forward"): forward_torch,
        ("onnxruntime", "forward"): lambda: [onnx_p.model(x) for _ in images],
    }
    for fn in runs.values():
        fn()  # warm-up: allocations, onnxruntime graph optimisation
    best = {key: float("inf") for key in runs}
    for _ in range(args.repeats):
        for key, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[key] = min(best[key], (time.perf_counter() - start) / len(images))
    print(f"   {'backend':<16}{'predict img/s':>15}{'forward img/s':>15}")
    for name in ("PyTorch eager", "onnxruntime"):
        print(f"   {name:<16}{1 / best[(name, 'predict')]:>15.2f}{1 / best[(name, 'forward')]:>15.2f}")
    ratio = {k: best[("PyTorch eager", k)] / best[("onnxruntime", k)] for k in ("predict", "forward")}
    print(f"   onnxruntime / PyTorch: predict {ratio['predict']:.2f}x, forward {ratio['forward']:.2f}x")
    agree = np.mean([(torch_p.predict(im).index == onnx_p.predict(im).index).mean() for im in images[:3]])
    print(f"   argmax agreement onnxruntime vs PyTorch: {100 * agree:.4f}%")


def section_slide(args, spec: DatasetSpec, ckpt: Path, onnx_path: Path) -> None:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    image = cv2.resize(small, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    mpix = image.shape[0] * image.shape[1] / 1e6
    print(
        f"\n2. Sliding window: 2048x2048, tile 512, overlap 0.25, one window per forward ({args.arch}/{args.encoder});"
    )
    print(f"   best of {args.repeats} interleaved runs")
    model, _ = load_checkpoint_model(ckpt)
    onnx_model = OnnxModel(onnx_path)
    runs = {
        "segwise, PyTorch": lambda: Predictor(model, spec, tile=512, overlap=0.25).predict(image),
        "peer (full-res maps), PyTorch": lambda: naive_slide(image, model, spec, 512, 0.25),
        "segwise, onnxruntime": lambda: Predictor(onnx_model, spec, tile=512, overlap=0.25).predict(image),
        "peer (full-res maps), onnxruntime": lambda: naive_slide(image, onnx_model, spec, 512, 0.25),
    }
    best = {name: float("inf") for name in runs}
    for _ in range(args.repeats):  # interleaved, so a change in machine load hits every variant alike
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    for name, sec in best.items():
        peer = best["peer (full-res maps), " + name.split(", ")[1]]
        print(f"   {name:<36}{mpix / sec:>8.3f} MPix/s   {sec:>7.2f} s   {peer / sec:.2f}x its peer")


CHILD = textwrap.dedent(
    """
    import sys, time
    t = time.perf_counter()
    if sys.argv[1] == "segwise":
        from segwise.cli import main
        rc = main(["predict", "--checkpoint", sys.argv[2], "--input", sys.argv[3], "--out", sys.argv[4],
                   "--tile", "1024", "--overlap", "0.1", "--save", "index"])
        assert rc == 0
    else:
        sys.path.insert(0, sys.argv[5])
        from bench_predict import naive_slide
        from segwise.data.readers import read_image
        from segwise.infer import load_checkpoint_model
        model, spec = load_checkpoint_model(sys.argv[2])
        naive_slide(read_image(sys.argv[3]), model, spec, 1024, 0.1)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print("RESULT", int(hwm) // 1024, time.perf_counter() - t)
    """
)


def section_memory(args, tmp: Path) -> None:
    spec = DatasetSpec("big", ("a", "b", "c", "d", "e", "f"))
    ckpt = checkpoint(tmp / "tiny.pt", spec, "unet", "classic", base_width=4, depth=2)
    n = args.big
    ramp = np.arange(n, dtype=np.uint32)
    image = np.empty((n, n, 3), np.uint8)
    image[..., 0] = (ramp % 256)[None, :]
    image[..., 1] = (ramp % 256)[:, None]
    image[..., 2] = ((ramp[None, :] // 7 + ramp[:, None] // 11) % 256).astype(np.uint8)
    cv2.imwrite(str(tmp / "big.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    del image
    print(
        f"\n3. Memory: {n}x{n} RGB PNG, 6 classes, tiny U-Net (base_width 4, depth 2), tile 1024, overlap 0.1"
    )
    here = str(Path(__file__).resolve().parent)
    for who in ("segwise", "peer"):
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, who, str(ckpt), str(tmp / "big.png"), str(tmp / "out"), here],
            capture_output=True,
            text=True,
        )
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
        if proc.returncode != 0 or not line:
            print(f"   {who}: failed ({proc.stderr.strip()[-300:]})")
            continue
        _, mib, sec = line[0].split()
        label = "segwise predict (CLI)" if who == "segwise" else "peer (full-res float32 maps)"
        print(f"   {label:<32} peak RSS {int(mib):>6} MiB   {float(sec):7.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camvid", default=None)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--arch", default="unet")
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--big", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--sections", default="whole,slide,memory", help="comma separated: whole, slide, memory"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    spec = DatasetSpec("camvid", CAMVID_CLASSES, ignore_index=11)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ckpt = checkpoint(tmp / "model.pt", spec, args.arch, args.encoder)
        onnx_path = export_onnx(ckpt, tmp / "model.onnx")
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cores {os.cpu_count()}")
        if "whole" in sections:
            section_whole(args, spec, ckpt, onnx_path)
        if "slide" in sections:
            section_slide(args, spec, ckpt, onnx_path)
        if "memory" in sections:
            section_memory(args, tmp)


if __name__ == "__main__":
    main()
