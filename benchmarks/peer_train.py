"""The plain practitioner's script that `bench_auto.py` runs beside `segwise train --auto`.

What a careful user writes with PyTorch and segmentation_models_pytorch alone (no segwise import):
U-Net with a ResNet-18 encoder and smp's default decoder from random weights, cross-entropy + Dice,
random crops of up to 256x256 (multiples of 32), horizontal and vertical flips, Adam at 1e-3 with a
cosine schedule over the elapsed share of the time budget (so it ends at the budget, whatever the
epochs cost: budgeted training, Li et al. 2020), validation every epoch, bf16 autocast where the CPU
runs it natively, the best validation checkpoint kept, and whole-image prediction of the test split.

    python benchmarks/peer_train.py DATA --classes N --minutes M --out OUT

DATA holds ``images/<stem>.png`` (or ``.npy`` float arrays, ``(H, W)`` or ``(H, W, C)``),
``masks/<stem>.png`` (class ids, 255 = ignore) and ``splits/{train,val,test}.txt`` (one stem per
line). OUT receives ``<stem>.png`` class-id predictions of the test split and ``log.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from PIL import Image

IGNORE = 255


def load_image(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        x = np.load(path).astype(np.float32)
    else:
        x = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return x[..., None] if x.ndim == 2 else x


def load_split(root: Path, split: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for stem in (root / "splits" / f"{split}.txt").read_text().split():
        image = next(
            p for p in (root / "images" / f"{stem}.npy", root / "images" / f"{stem}.png") if p.exists()
        )
        mask = np.asarray(Image.open(root / "masks" / f"{stem}.png"), dtype=np.int64)
        out.append((stem, load_image(image), mask))
    return out


def native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def random_batch(
    samples, batch: int, crop: tuple[int, int], mean, std, rng
) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(batch):
        _, x, y = samples[rng.integers(len(samples))]
        h, w = y.shape
        ph, pw = max(0, crop[0] - h), max(0, crop[1] - w)
        if ph or pw:  # pad small images: zeros (the mean after normalising) and ignore
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), constant_values=0)
            x[h:] = mean
            x[:, w:] = mean
            y = np.pad(y, ((0, ph), (0, pw)), constant_values=IGNORE)
            h, w = y.shape
        top, left = rng.integers(h - crop[0] + 1), rng.integers(w - crop[1] + 1)
        x, y = x[top : top + crop[0], left : left + crop[1]], y[top : top + crop[0], left : left + crop[1]]
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if rng.random() < 0.5:
            x, y = x[::-1], y[::-1]
        xs.append(((x - mean) / std).transpose(2, 0, 1).copy())
        ys.append(y.copy())
    return torch.from_numpy(np.stack(xs)).float(), torch.from_numpy(np.stack(ys))


@torch.no_grad()
def predict(model, x: np.ndarray, mean, std, amp: bool) -> np.ndarray:
    h, w = x.shape[:2]
    t = torch.from_numpy(((x - mean) / std).transpose(2, 0, 1)[None].copy()).float()
    ph, pw = -h % 32, -w % 32
    t = F.pad(t, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        logits = model(t)
    return logits.float()[0, :, :h, :w].argmax(0).numpy()


def miou(model, samples, classes: int, mean, std, amp: bool) -> float:
    model.eval()
    cm = np.zeros((classes, classes), np.int64)
    for _, x, y in samples:
        p = predict(model, x, mean, std, amp)
        keep = y != IGNORE
        cm += np.bincount(classes * y[keep] + p[keep], minlength=classes**2).reshape(classes, classes)
    model.train()
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    present = cm.sum(1) > 0
    return float(np.mean(tp[present] / np.maximum(union[present], 1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--classes", type=int, required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.perf_counter()
    deadline = start + 60 * args.minutes
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, val, test = (load_split(args.data, s) for s in ("train", "val", "test"))
    stack = np.concatenate([x.reshape(-1, x.shape[-1]) for _, x, _ in train])
    mean, std = stack.mean(0), stack.std(0) + 1e-6
    channels = train[0][1].shape[-1]
    small = min(min(y.shape) for _, _, y in train)
    side = max(32, min(256, small // 32 * 32))
    crop, batch = (side, side), 8
    steps_per_epoch = max(1, math.ceil(sum(y.size for _, _, y in train) / (batch * side * side)))
    model = smp.Unet("resnet18", encoder_weights=None, in_channels=channels, classes=args.classes)
    model = model.to(memory_format=torch.channels_last)
    dice = smp.losses.DiceLoss("multiclass", ignore_index=IGNORE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    amp = native_bf16()
    # the cosine follows the elapsed share of the training time: the budget less the test prediction
    # and a few seconds (both re-estimated from each validation)
    predict_s, best, best_state, epoch, step = 0.0, -1.0, None, 0, 0
    train_start, log = time.perf_counter(), []
    while True:
        t0 = time.perf_counter()
        for _ in range(steps_per_epoch):
            end = deadline - predict_s - 5
            frac = min(1.0, (time.perf_counter() - train_start) / max(end - train_start, 1e-9))
            for g in opt.param_groups:
                g["lr"] = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * frac))
            x, y = random_batch(train, batch, crop, mean, std, rng)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                logits = model(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits.float(), y, ignore_index=IGNORE) + dice(logits.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        epoch += 1
        v0 = time.perf_counter()
        score = miou(model, val, args.classes, mean, std, amp)
        now = time.perf_counter()
        predict_s = max(predict_s, (now - v0) * len(test) / max(1, len(val)))
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
        log.append({"epoch": epoch, "loss": loss.item(), "val_miou": score, "seconds": now - t0})
        epoch_s = now - t0
        if now + epoch_s + predict_s + 5 > deadline:  # another epoch would not fit
            break
    model.load_state_dict(best_state)
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    for stem, x, _ in test:
        Image.fromarray(predict(model, x, mean, std, amp).astype(np.uint8)).save(args.out / f"{stem}.png")
    (args.out / "log.json").write_text(
        json.dumps(
            {"epochs": log, "best_val_miou": best, "crop": crop, "wall_s": time.perf_counter() - start},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
