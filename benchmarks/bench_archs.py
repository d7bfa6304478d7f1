"""Training speed of candidate architectures on this machine: how many epochs fit in a budget.

Run:  python benchmarks/bench_archs.py [--size 180 240] [--batch 8] [--steps 4]

One training step = forward, cross-entropy, backward and an AdamW step, fp32, channels_last,
random init, 11 classes. Prints images per second (best of the timed steps after one warm-up) and
the ratio to the smp U-Net/ResNet-18 with its default decoder, the reference row. Used to pick the
CamVid CPU recipe (docs/decisions.md, docs/results.md).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from segwise.models import create_model

CANDIDATES: list[tuple[str, str, dict]] = [
    ("unet", "resnet18", {}),
    ("unet", "resnet18", {"decoder_channels": [128, 64, 32, 16, 16]}),
    ("fpn", "resnet18", {}),
    ("deeplabv3plus", "resnet18", {}),
    ("unet", "mobilenet_v2", {}),
    ("fpn", "resnet34", {}),
]


def images_per_second(
    arch: str, encoder: str, opts: dict, size: tuple[int, int], batch: int, steps: int
) -> float:
    torch.manual_seed(0)
    model = create_model(arch, 11, encoder=encoder, encoder_weights="none", **opts).train()
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, *size).to(memory_format=torch.channels_last)
    y = torch.randint(0, 11, (batch, *size))
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return batch / min(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=[180, 240], metavar=("H", "W"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"batch {args.batch}, {args.size[0]}x{args.size[1]}"
    )
    ref = None
    for arch, encoder, opts in CANDIDATES:
        ips = images_per_second(arch, encoder, opts, tuple(args.size), args.batch, args.steps)
        ref = ref or ips
        print(
            f"{arch:14s} {encoder:13s} {str(opts or ''):42s} {ips:6.2f} img/s  {ips / ref:4.2f}x", flush=True
        )


if __name__ == "__main__":
    main()
