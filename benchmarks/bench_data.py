"""Loader throughput vs what a training step consumes, and segwise's cached loader vs a plain one.

Run:  python benchmarks/bench_data.py [--camvid DIR] [--samples 96] [--steps 2] [--step both|fp32|bf16|none]

1. Loader: CamVid train with the "strong" augmentation (random scale 0.5-2, crop back to 360x480,
   flip, rotation, colour jitter, normalisation), batches of 4, through segwise.data.build_loader:
   cold (fresh decode cache: decode + store) and warm (cache filled), with 0 and 2 workers.
2. Peer: a plain dataset that decodes the PNGs with PIL on every access and applies the same
   augmentation (no cache), with 0 and 2 workers; and both without augmentation (normalisation
   only), where decoding dominates and the cache shows.
3. Training step: smp Unet(resnet18, encoder_weights=None), batch 4 at 360x480, channels_last, CPU,
   fp32 and bf16 autocast: forward + cross-entropy + backward + AdamW step (the training loop of the
   training issue does not exist yet, so the step is measured here directly).

4. Tiles: a synthetic 6000x6000 PNG tile; a full decode vs a 512x512 window read from the
   memory-mapped decode cache.

Prints samples/s for each and the ratio loader / step (the loader must sustain >= 3x).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segwise.data import CAMVID_SPEC, build_loader, build_transforms, create_dataset


def camvid_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("SEGWISE_CAMVID")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"


class PlainCamVid(torch.utils.data.Dataset):
    """The peer: PIL decode on every access, same joint transforms, no cache."""

    def __init__(self, root: Path, transforms, seed: int = 0) -> None:
        self.images = sorted((root / "train").glob("*.png"))
        self.masks = [root / "trainannot" / p.name for p in self.images]
        self.transforms = transforms
        self.seed = seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key):
        i, epoch = key
        image = np.asarray(Image.open(self.images[i]).convert("RGB"))
        mask = np.asarray(Image.open(self.masks[i]))
        return self.transforms(image, mask, np.random.default_rng([self.seed, epoch, i]))


def loader_rate(dataset, workers: int, n_samples: int, batch: int = 4) -> float:
    """Samples per second over the first ``n_samples`` (worker start-up included)."""
    loader = build_loader(_Keyed(dataset, n_samples), batch, shuffle=False, num_workers=workers)
    t0 = time.perf_counter()
    seen = 0
    for x, _ in loader:
        seen += x.shape[0]
    return seen / (time.perf_counter() - t0)


class _Keyed(torch.utils.data.Dataset):
    """The first ``n`` samples of ``dataset``, passing ``(index, epoch)`` keys through."""

    def __init__(self, dataset, n: int) -> None:
        self.dataset, self.n = dataset, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        return self.dataset[key]


def step_rate(steps: int, precision: str, batch: int = 4) -> float:
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, classes=11).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 360, 480).to(memory_format=torch.channels_last)
    y = torch.randint(0, 12, (batch, 360, 480))
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=11)

    def one() -> None:
        # smp's Unet needs sizes divisible by 32: pad 360 -> 384 with the ignore label, as training would.
        xp = torch.nn.functional.pad(x, (0, 0, 0, 24))
        yp = torch.nn.functional.pad(y, (0, 0, 0, 24), value=11)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(xp)
        loss = loss_fn(out.float(), yp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return steps * batch / (time.perf_counter() - t0)


def tile_bench(size: int, window: int = 512) -> None:
    """A synthetic size x size PNG tile: full decode vs a window read from the memory-mapped cache."""
    from segwise.data import DatasetSpec

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "masks").mkdir()
        y, x = np.mgrid[0:size, 0:size]
        img = np.stack([(x // 7) % 256, (y // 5) % 256, ((x + y) // 11) % 256], -1).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / "t.png")
        Image.fromarray(((x // 500 + y // 500) % 3).astype(np.uint8)).save(root / "masks" / "t.png")
        del img, x, y
        spec = DatasetSpec("tile", ("a", "b", "c"), ignore_index=255)
        t0 = time.perf_counter()
        with Image.open(root / "images" / "t.png") as im:
            im.load()
        decode = time.perf_counter() - t0
        ds = create_dataset(
            "tiles", "train", root, spec=spec, cache=root / "cache", window=window, val_fraction=0
        )
        t0 = time.perf_counter()
        ds.load_raw(0, epoch=0)
        first = time.perf_counter() - t0
        n = 64
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            ds.load_raw(i % len(ds), epoch=1)
        per_window = (time.perf_counter() - t0) / n
    print(
        f"tile {size}x{size} PNG: full image decode {decode:.2f} s; first window (decode + cache) {first:.2f} s;"
    )
    print(
        f"  later {window}x{window} windows from the cache: {per_window * 1000:.2f} ms each "
        f"({decode / per_window:.0f}x faster than decoding the tile)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--camvid", default=None)
    ap.add_argument("--samples", type=int, default=96, help="samples per loader measurement")
    ap.add_argument("--repeats", type=int, default=2, help="warm / plain measurements: best of this many")
    ap.add_argument("--steps", type=int, default=2, help="timed training steps (after one warm-up step)")
    ap.add_argument(
        "--step",
        choices=("fp32", "bf16", "both", "none"),
        default="both",
        help="training-step precision to time (bf16 autocast is slow on CPUs without AMX: minutes per step)",
    )
    ap.add_argument("--tile", type=int, default=6000, help="side of the synthetic tile (0: skip)")
    args = ap.parse_args()
    if args.tile:
        tile_bench(args.tile)
    root = camvid_dir(args.camvid)
    t = build_transforms("strong", CAMVID_SPEC, crop_size=(360, 480))
    n = args.samples
    print(f"torch threads {torch.get_num_threads()}, cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    print(f"CamVid train, strong augmentation, 360x480, batch 4, {n} samples per measurement")
    rates: dict[str, float] = {}
    plain_aug, plain_none = PlainCamVid(root, t), PlainCamVid(root, build_transforms("none", CAMVID_SPEC))
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (0, 2):
            ds = create_dataset("camvid", "train", root, t, cache=Path(tmp) / f"cache{workers}")
            rates[f"segwise cold, strong, {workers} workers"] = loader_rate(ds, workers, n)  # decode + store
            no_aug = create_dataset("camvid", "train", root, cache=Path(tmp) / f"cache{workers}")
            runs: dict[str, list[float]] = {}
            for _ in range(args.repeats):  # alternate, so drifting load hits both sides alike
                for name, data in (
                    ("segwise warm, strong", ds),
                    ("plain PIL,    strong", plain_aug),
                    ("segwise warm, no aug", no_aug),
                    ("plain PIL,    no aug", plain_none),
                ):
                    runs.setdefault(f"{name}, {workers} workers", []).append(loader_rate(data, workers, n))
            rates.update({k: max(v) for k, v in runs.items()})
    for name, rate in rates.items():
        print(f"  loader {name}: {rate:7.1f} samples/s")
    for w in (0, 2):
        for aug in ("strong", "no aug"):
            ratio = rates[f"segwise warm, {aug}, {w} workers"] / rates[f"plain PIL,    {aug}, {w} workers"]
            print(f"  segwise warm cache / plain PIL, {aug}, {w} workers: {ratio:.2f}x")
    precisions = {"both": ("fp32", "bf16"), "none": ()}.get(args.step, (args.step,))
    for precision in precisions:
        step = step_rate(args.steps, precision)
        print(
            f"train step (smp Unet resnet18, batch 4, 360x480 padded to 384x480, {precision}, channels_last, CPU): "
            f"{step:.3f} samples/s"
        )
        for w in (0, 2):
            loader = rates[f"segwise warm, strong, {w} workers"]
            print(f"  loader (warm, strong, {w} workers) / train step: {loader / step:.0f}x")


if __name__ == "__main__":
    main()
