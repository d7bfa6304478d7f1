"""Training throughput: segwise's training step vs a plain fp32 PyTorch loop, side by side.

Run:  python benchmarks/bench_train.py [--steps 6] [--batch 4] [--compile]

Model: smp U-Net with a resnet18 encoder (random init), 12 classes, batches of 4 at 360x480.
* plain:   the textbook loop — fp32, NCHW, model(x); F.cross_entropy; backward; Adam step.
* segwise: ``segwise.train.loop.train_one_epoch`` with the settings ``train.amp="auto"`` picks on
  this machine, channels_last, and a segwise CompositeLoss ("ce").
* segwise + bf16 autocast (forced) and, with --compile, + torch.compile, for reference.
Also prints the validation pass (``segwise.train.loop.validate``) throughput.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from segwise.losses import create_loss
from segwise.models import create_model
from segwise.train.device import autocast_dtype, cpu_has_fast_bf16
from segwise.train.loop import train_one_epoch, validate

C, H, W = 12, 360, 480


def make_batches(n: int, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        (torch.randn(batch, 3, H, W, generator=g), torch.randint(0, C, (batch, H, W), generator=g))
        for _ in range(n)
    ]


def plain_loop(batches, steps: int) -> float:
    torch.manual_seed(0)
    model = create_model("unet", C, encoder="resnet18")
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    seen, t0 = 0, None
    for i, (x, y) in enumerate(batches[: steps + 1]):
        if i == 1:  # first step is warm-up
            t0, seen = time.perf_counter(), 0
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += x.shape[0]
    return seen / (time.perf_counter() - t0)


def segwise_loop(batches, steps: int, amp: torch.dtype | None, compile_model: bool) -> float:
    torch.manual_seed(0)
    model = create_model("unet", C, encoder="resnet18").to(memory_format=torch.channels_last)
    net = torch.compile(model) if compile_model else model
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss = create_loss("ce", check_targets=False)
    dev = torch.device("cpu")
    kw = dict(amp_dtype=amp, channels_last=True)
    train_one_epoch(net, batches[:1], loss, opt, lambda s: 1e-3, dev, start_step=0, **kw)  # warm-up
    stats, _ = train_one_epoch(
        net, batches[1 : steps + 1], loss, opt, lambda s: 1e-3, dev, start_step=1, **kw
    )
    return stats.images / stats.seconds


def val_throughput(batches, amp: torch.dtype | None) -> float:
    model = create_model("unet", C, encoder="resnet18").to(memory_format=torch.channels_last)
    validate(model, batches[:1], C, None, torch.device("cpu"), amp_dtype=amp)
    t0 = time.perf_counter()
    validate(model, batches[1:], C, None, torch.device("cpu"), amp_dtype=amp)
    return sum(x.shape[0] for x, _ in batches[1:]) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow first compile)")
    args = ap.parse_args()
    batches = make_batches(args.steps + 1, args.batch)
    auto = autocast_dtype("auto", torch.device("cpu"))
    print(
        f"smp U-Net resnet18, {C} classes, batch {args.batch} at {H}x{W}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_fast_bf16()}"
    )
    plain = plain_loop(batches, args.steps)
    rows = [("plain fp32 loop (NCHW)", plain)]
    rows.append(
        (
            f"segwise train_one_epoch (amp=auto -> {auto}, channels_last)",
            segwise_loop(batches, args.steps, auto, False),
        )
    )
    rows.append(
        ("segwise, bf16 autocast forced", segwise_loop(batches, min(args.steps, 2), torch.bfloat16, False))
    )
    if args.compile:
        rows.append(("segwise + torch.compile", segwise_loop(batches, args.steps, auto, True)))
    for name, ips in rows:
        print(f"  {name:60s} {ips:6.2f} img/s   {ips / plain:5.2f}x plain")
    print(
        f"  validation pass (segwise evaluate, amp=auto)                 {val_throughput(batches, auto):6.2f} img/s"
    )


if __name__ == "__main__":
    main()
