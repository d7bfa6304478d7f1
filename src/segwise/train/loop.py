"""The training loop, top to bottom: set-up → data → model → loss → stages of epochs.

``train()`` reads like nanoGPT's script: every step is a plain function call, there are no hooks.
``train_one_epoch()`` and ``evaluate()`` are plain functions too, usable on their own.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from segwise.errors import InputError, SegwiseError
from segwise.metrics import ConfusionMatrix
from segwise.models.checkpoint import RESUME_KEYS, build_payload, load_checkpoint, save_checkpoint
from segwise.train.config import Config, StageConfig, config_to_dict, config_to_toml
from segwise.train.distributed import (
    DistInfo,
    DistributedEpochSampler,
    ShardSampler,
    cleanup_distributed,
    init_distributed,
)
from segwise.train.ema import ModelEma
from segwise.train.rng import rng_state, set_rng_state
from segwise.train.rundir import RunFolder
from segwise.train.runlog import RunLogger
from segwise.train.schedule import lr_at


class NonFiniteLossError(SegwiseError):
    """The loss became NaN or inf; the last good checkpoint is kept."""


# ----------------------------------------------------------------------------- set-up helpers


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"train.device={name!r} but CUDA is not available; use 'auto' or 'cpu'.")
    return dev


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN runs bf16 natively (AVX512-BF16 or AMX); emulated bf16 is much slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.amp``.

    ``auto``: bf16 on CUDA when supported (else fp16 with a GradScaler); on CPU bf16 only where the
    CPU has native bf16 (AVX512-BF16/AMX). On this project's AVX2 machines bf16 autocast measured
    10-20x *slower* than fp32 (docs/benchmarks.md), so ``auto`` keeps fp32 there.
    """
    choices = {"auto", "bf16", "fp16", "none"}
    if amp not in choices:
        raise InputError(f"train.amp must be one of {sorted(choices)}, got {amp!r}.")
    if amp == "none":
        return None
    if amp == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_fast_bf16() else None
    return torch.bfloat16 if amp == "bf16" else torch.float16


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global RNG, for third-party code)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def build_optimizer(cfg: Config, params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.momentum > 0
        )
    raise InputError(f"unknown optim.name {o.name!r}; available: adam, adamw, sgd.")


# ----------------------------------------------------------------------------- data


@dataclass
class Data:
    spec: Any
    train_set: Any
    val_set: Any
    train_loader: DataLoader
    val_loader: DataLoader


def _dataset_kwargs(cfg: Config) -> dict[str, Any]:
    opts = dict(cfg.data.options)
    opts.setdefault("seed", cfg.train.seed)
    opts.setdefault("cache", cfg.data.cache)
    return opts


def build_data(cfg: Config, dist_info: DistInfo, augment: str | list[Any], crop_size: list[int]) -> Data:
    from segwise.data.datasets import create_dataset
    from segwise.data.loader import build_loader, default_num_workers
    from segwise.data.transforms import build_transforms

    root = cfg.data.root or None
    probe = create_dataset(cfg.data.dataset, cfg.data.train_split, root, None, **_dataset_kwargs(cfg))
    spec = probe.spec
    crop = tuple(crop_size) if crop_size else None
    # data.augment_strength sets the strength of data.augment; a stage naming another preset gets its own
    strength = cfg.data.augment_strength if augment == cfg.data.augment else None
    train_tf = build_transforms(
        augment, spec, train=True, crop_size=crop, seed=cfg.train.seed, strength=strength,
        crop_focus=cfg.data.crop_focus,
    )  # fmt: skip
    val_size = tuple(cfg.data.val_size) if cfg.data.val_size else None
    val_tf = build_transforms("none", spec, train=False, crop_size=val_size, seed=cfg.train.seed)
    train_set = create_dataset(cfg.data.dataset, cfg.data.train_split, root, train_tf, **_dataset_kwargs(cfg))
    val_set = create_dataset(cfg.data.dataset, cfg.data.val_split, root, val_tf, **_dataset_kwargs(cfg))
    workers = default_num_workers() if cfg.data.workers == -1 else cfg.data.workers  # -1: auto
    if dist_info.enabled:
        sampler = DistributedEpochSampler(
            train_set,
            num_replicas=dist_info.world_size,
            rank=dist_info.rank,
            shuffle=True,
            seed=cfg.train.seed,
        )
        train_loader = DataLoader(
            train_set, batch_size=cfg.data.batch_size, sampler=sampler, num_workers=workers, drop_last=True,
            persistent_workers=workers > 0,
        )  # fmt: skip
    else:
        train_loader = build_loader(
            train_set,
            cfg.data.batch_size,
            shuffle=True,
            num_workers=workers,
            seed=cfg.train.seed,
            drop_last=True,
        )
    if len(train_loader) == 0:
        raise InputError(
            f"the {cfg.data.train_split} split has {len(train_set)} samples, fewer than data.batch_size="
            f"{cfg.data.batch_size} per process; lower the batch size."
        )
    val_sampler = ShardSampler(len(val_set), dist_info.rank, dist_info.world_size)
    val_loader = DataLoader(
        val_set, batch_size=cfg.data.val_batch_size, sampler=val_sampler, num_workers=workers
    )
    return Data(spec, train_set, val_set, train_loader, val_loader)


def class_weights_for(cfg: Config, spec: Any) -> torch.Tensor | None:
    kind = cfg.data.class_weights
    if kind == "none":
        return None
    from segwise.data.stats import class_stats

    stats = class_stats(cfg.data.dataset, cfg.data.train_split, cfg.data.root or None, **_dataset_kwargs(cfg))
    w = np.asarray(stats.weights(kind), dtype=np.float64)
    w = np.where(np.isfinite(w), w, 0.0)  # classes absent from the training split get weight 0
    w = w**cfg.data.class_weights_power  # a power below 1 softens the balancing; 0 stays 0
    return torch.tensor(w, dtype=torch.float32)


# ----------------------------------------------------------------------------- model and loss


def build_model(cfg: Config, spec: Any) -> torch.nn.Module:
    from segwise.models import create_model, load_encoder_weights

    m = cfg.model
    weights = None if m.encoder_weights in ("", "none") else m.encoder_weights
    model = create_model(
        m.arch,
        spec.num_classes,
        encoder=m.encoder or None,
        in_channels=spec.in_channels,
        encoder_weights=weights,
        dropout=m.dropout,
        **m.options,
    )
    if m.init_from:
        report = load_encoder_weights(model, m.init_from, include_decoder=True)
        print(f"init_from {m.init_from}: {report}")
    return model


def build_loss(cfg: Config, spec: Any, class_weights: torch.Tensor | None) -> Any:
    from segwise.losses import create_loss

    return create_loss(
        cfg.loss.name,
        weights=cfg.loss.weights or None,
        class_weights=class_weights,
        ignore_index=spec.ignore_index,
        check_targets=False,  # the data layer already checked every mask; avoids a device sync per step
        **cfg.loss.options,
    )


# ----------------------------------------------------------------------------- one epoch


@dataclass
class EpochStats:
    loss: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)
    images: int = 0
    seconds: float = 0.0
    lr: float = 0.0


def _loss_terms(loss_fn: Any, out: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total and the (detached) terms of a segwise CompositeLoss call; plain losses have none."""
    return out, dict(getattr(loss_fn, "last_terms", {}))


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: Any,
    optimizer: torch.optim.Optimizer,
    lr_fn: Callable[[int], float],
    device: torch.device,
    *,
    start_step: int,
    amp_dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = True,
    grad_clip: float = 0.0,
    max_batches: int = 0,
    on_step: Callable[[int, float, float, int], None] | None = None,
    ema: ModelEma | None = None,
) -> tuple[EpochStats, int]:
    """Run one epoch; returns the statistics and the next global step. ``ema`` is updated after each step."""
    model.train()
    step = start_step
    total = torch.zeros((), device=device)
    term_sums: dict[str, torch.Tensor] = {}
    seen = 0
    t0 = time.perf_counter()
    lr = lr_fn(step)
    for i, (images, masks) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        lr = lr_fn(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        images = images.to(device, non_blocking=True)
        masks = masks.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with ctx:
            logits = model(images)
        loss, terms = _loss_terms(loss_fn, loss_fn(logits.float(), masks))
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if ema is not None:
            ema.update()
        total += loss.detach()
        for k, v in terms.items():
            term_sums[k] = term_sums.get(k, torch.zeros((), device=device)) + v.detach()
        seen += images.shape[0]
        step += 1
        if on_step is not None or step % 10 == 0:
            value = float(total) / (i + 1)  # sync point: progress display and the NaN check
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"the loss became {value} at step {step} (lr {lr:.3g}). Lower optim.lr (e.g. x0.1), enable "
                    "optim.grad_clip, or check the data; the last good checkpoint was kept."
                )
            if on_step is not None:
                on_step(step, value, lr, images.shape[0])
    n = max(1, (i + 1) if seen else 1)
    mean = float(total) / n  # sync point: epoch summary
    if not math.isfinite(mean):
        raise NonFiniteLossError(
            f"the loss became {mean} before step {step}. Lower optim.lr or enable optim.grad_clip; the last "
            "good checkpoint was kept."
        )
    stats = EpochStats(
        loss=mean,
        terms={k: float(v) / n for k, v in term_sums.items()},
        images=seen,
        seconds=time.perf_counter() - t0,
        lr=lr,
    )
    return stats, step


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    num_classes: int,
    ignore_index: int | None,
    device: torch.device,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    per_image: bool = False,
) -> ConfusionMatrix:
    """Confusion matrix of ``model`` over ``loader`` (summed across processes when distributed)."""
    model.eval()
    state = ConfusionMatrix(num_classes, ignore_index, per_image=per_image)
    for images, masks in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with ctx:
            logits = model(images)
        state.update(logits.float().argmax(1), masks.to(device))
    state.all_reduce()
    return state


# ----------------------------------------------------------------------------- checkpoints


def _params_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


# ----------------------------------------------------------------------------- the run


def _stage_settings(cfg: Config, stage: StageConfig) -> tuple[float, str, str | list[Any], list[int]]:
    lr = cfg.optim.lr if stage.lr is None else stage.lr
    schedule = stage.schedule or cfg.schedule.name
    augment = stage.augment or cfg.data.augment
    crop = stage.crop_size or cfg.data.crop_size
    return lr, schedule, augment, crop


def train(
    cfg: Config,
    resume: str | os.PathLike[str] | None = None,
    *,
    console: Any = None,
    progress: bool | None = None,
) -> Path:
    """Train as configured; returns the run folder (``config.toml``, ``last.pt``, ``best.pt``,
    ``metrics.csv``, TensorBoard events).

    With ``resume`` (a run folder or a checkpoint), training continues from the end of the last
    completed epoch with the same weights, optimizer, schedule position and RNG states.

    A run that fails before its first ``last.pt`` removes what it wrote (and its folder, if it made
    it); one that fails later keeps the folder with a ``FAILED`` file naming the ``--resume`` that
    continues it. The error propagates unchanged.
    """
    device = select_device(cfg.train.device)
    dist_info = init_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    try:
        with RunFolder(enabled=dist_info.is_main, console=console) as folder:
            return _train(cfg, resume, device, dist_info, folder, console, progress)
    finally:
        cleanup_distributed()


def _train(
    cfg: Config,
    resume: Any,
    device: torch.device,
    dist_info: DistInfo,
    folder: RunFolder,
    console: Any,
    progress: bool | None,
) -> Path:
    # 1. run folder, resume state, seeds ---------------------------------------------------------
    state: dict[str, Any] | None = None
    if resume is not None:
        resume = Path(resume)
        state = load_checkpoint(resume / "last.pt" if resume.is_dir() else resume, needs=RESUME_KEYS)
        from segwise.train.config import config_from_dict

        cfg = config_from_dict(state["config"])
        run_dir = resume if resume.is_dir() else resume.parent
    else:
        run_dir = Path(cfg.train.out_dir)
    seed_everything(cfg.train.seed + dist_info.rank, cfg.train.deterministic)
    amp_dtype = autocast_dtype(cfg.train.amp, device)
    log = RunLogger(run_dir, enabled=dist_info.is_main, console=console, progress=progress)
    if state is None:
        if dist_info.is_main and (run_dir / "last.pt").exists():
            raise InputError(
                f"run folder {run_dir} already holds a run (last.pt); continue it with --resume {run_dir}, or "
                "choose another train.out_dir."
            )
        folder.create(run_dir, config_to_toml(cfg))  # rank 0 writes the folder
    else:
        folder.resume(run_dir, state["epoch"])
    log.print_config(config_to_toml(cfg), run_dir)

    # 2. data, model, loss ----------------------------------------------------------------------
    stages = cfg.effective_stages()
    first_stage = stages[min(state["stage"], len(stages) - 1) if state else 0]
    _, _, augment, crop = _stage_settings(cfg, first_stage)
    data = build_data(cfg, dist_info, augment, crop)
    data_settings = (augment, crop)
    spec = data.spec
    model = build_model(cfg, spec)
    if state is not None:  # with an EMA, "model" holds the average and "train_model" the trained weights
        model.load_state_dict(state.get("train_model", state["model"]))
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    ema = None
    if cfg.train.ema_decay > 0:
        ema = ModelEma(model, cfg.train.ema_decay, updates=state.get("ema_updates", 0) if state else 0)
        if state is not None and "train_model" in state:
            ema.load_state_dict(state["model"])
    class_weights = class_weights_for(cfg, spec)
    loss_fn = build_loss(cfg, spec, class_weights)
    if hasattr(loss_fn, "to"):
        loss_fn = loss_fn.to(device)
    net = model
    if dist_info.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    if cfg.train.compile:
        net = torch.compile(net)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 and device.type == "cuda" else None

    # 3. stages of epochs -------------------------------------------------------------------------
    epoch = state["epoch"] if state else 0  # completed epochs
    step = state["step"] if state else 0
    best = state["best_miou"] if state else -1.0
    stale = state["stale_epochs"] if state else 0
    history = list(state.get("history", [])) if state else []
    start_stage = state["stage"] if state else 0
    stage_epoch_done = state["stage_epoch"] if state else 0
    train_seconds = state.get("train_seconds", 0.0) if state else 0.0
    log.load_history(history)
    stop = False
    for s_idx in range(start_stage, len(stages)):
        stage = stages[s_idx]
        lr, schedule, augment, crop = _stage_settings(cfg, stage)
        if s_idx != start_stage or state is None:
            stage_epoch_done = 0
        if (augment, crop) != data_settings:  # a stage may change augmentation or resolution
            data = build_data(cfg, dist_info, augment, crop)
            data_settings = (augment, crop)
        from segwise.models import freeze_encoder, unfreeze_encoder

        (freeze_encoder if stage.freeze_encoder else unfreeze_encoder)(model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = build_optimizer(cfg, params, lr)
        if state is not None and state.get("optimizer_stage") == s_idx:
            optimizer.load_state_dict(state["optimizer"])
        if state is not None and s_idx == start_stage:
            set_rng_state(state["rng"])
        steps_per_epoch = len(data.train_loader)
        if cfg.train.max_train_batches:
            steps_per_epoch = min(steps_per_epoch, cfg.train.max_train_batches)
        stage_steps = steps_per_epoch * stage.epochs
        stage_start_step = step - stage_epoch_done * steps_per_epoch
        warmup = int(cfg.schedule.warmup_epochs * steps_per_epoch)

        def lr_fn(
            global_step: int, _lr=lr, _sched=schedule, _start=stage_start_step, _n=stage_steps, _w=warmup
        ) -> float:
            return lr_at(
                global_step - _start, _n, _lr, _sched, _w, cfg.schedule.power, cfg.schedule.min_lr_ratio
            )

        for _ in range(stage_epoch_done, stage.epochs):
            sampler = data.train_loader.sampler
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            with log.epoch_progress(epoch + 1, cfg.total_epochs(), steps_per_epoch, stage.name) as on_step:
                stats, step = train_one_epoch(
                    net, data.train_loader, loss_fn, optimizer, lr_fn, device,
                    start_step=step, amp_dtype=amp_dtype, scaler=scaler, channels_last=cfg.train.channels_last,
                    grad_clip=cfg.optim.grad_clip, max_batches=cfg.train.max_train_batches, on_step=on_step,
                    ema=ema,
                )  # fmt: skip
            epoch += 1
            stage_epoch_done += 1
            train_seconds += stats.seconds
            row: dict[str, Any] = {
                "epoch": epoch, "stage": stage.name or str(s_idx), "step": step, "lr": stats.lr,
                "train_loss": stats.loss, **{f"train_{k}": v for k, v in stats.terms.items()},
                "img_per_s": stats.images * dist_info.world_size / max(stats.seconds, 1e-9),
                "epoch_seconds": stats.seconds,
            }  # fmt: skip
            out_of_time = (
                bool(cfg.train.time_limit_minutes) and train_seconds >= 60 * cfg.train.time_limit_minutes
            )
            # validate on schedule, at the end of a stage, and before a time-limit stop (so best.pt exists)
            if epoch % cfg.train.eval_every == 0 or stage_epoch_done == stage.epochs or out_of_time:
                t0 = time.perf_counter()
                scored = net if ema is None else ema.module  # with an EMA, the average is what gets saved
                val = evaluate(
                    scored, data.val_loader, spec.num_classes, spec.ignore_index, device,
                    amp_dtype=amp_dtype, channels_last=cfg.train.channels_last,
                )  # fmt: skip
                scores = val.compute()
                row.update({
                    "val_pixel_accuracy": scores["pixel_accuracy"], "val_mean_accuracy": scores["mean_accuracy"],
                    "val_miou": scores["miou"], "val_seconds": time.perf_counter() - t0,
                    **{f"val_iou_{name}": float(v) for name, v in zip(spec.class_names, scores["iou"], strict=True)},
                })  # fmt: skip
                miou = scores["miou"] if math.isfinite(scores["miou"]) else 0.0
                improved = miou > best
                best, stale = (miou, 0) if improved else (best, stale + 1)
            else:
                improved = False
            history.append(row)
            patience = cfg.train.early_stopping_patience
            stop = (patience > 0 and stale >= patience) or out_of_time
            if dist_info.is_main:
                if not _params_finite(model):
                    raise NonFiniteLossError(
                        f"the weights became NaN/inf in epoch {epoch}; not saving them. Lower optim.lr or enable "
                        "optim.grad_clip."
                    )
                done_stage = stage_epoch_done == stage.epochs
                progress_info = {
                    "epoch": epoch, "step": step, "best_miou": best, "stale_epochs": stale, "history": history,
                    "stage": s_idx + 1 if done_stage else s_idx, "stage_epoch": 0 if done_stage else stage_epoch_done,
                    "train_seconds": train_seconds,
                    "finished": (done_stage and s_idx == len(stages) - 1) or stop,
                    "optimizer_stage": s_idx,  # a later stage builds its own optimizer
                }  # fmt: skip
                payload = build_payload(
                    model, spec, config_to_dict(cfg), optimizer=optimizer, rng=rng_state(), progress=progress_info,
                    # with an EMA, "model" (what predict, export and init_from read) holds the validated average
                    ema_weights=None if ema is None else ema.state_dict(), ema_updates=0 if ema is None else ema.updates,
                )  # fmt: skip
                save_checkpoint(run_dir / "last.pt", payload)
                folder.saved(epoch)
                if improved:
                    save_checkpoint(run_dir / "best.pt", payload)
                log.epoch_end(row, best)
            if stop:
                reason = "time limit" if out_of_time else f"no val mIoU gain for {stale} epochs"
                log.note(f"stopping early: {reason}")
                break
        if stop:
            break
    log.close()
    return run_dir


__all__ = ["NonFiniteLossError", "evaluate", "train", "train_one_epoch"]
