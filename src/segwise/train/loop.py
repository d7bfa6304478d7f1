"""The training loop, top to bottom: set-up → data → model → loss → stages of epochs.

``train()`` reads like nanoGPT's script: every step is a plain function call, there are no hooks.
``train_one_epoch()`` and ``validate()`` are plain functions too, usable on their own.
"""

from __future__ import annotations

import itertools
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
from segwise.metrics.probs import ProbabilityAccumulator
from segwise.models.checkpoint import RESUME_KEYS, build_payload, load_checkpoint, save_checkpoint
from segwise.train.budget import TimedStages
from segwise.train.build import (
    build_data,
    build_loss,
    build_model,
    build_optimizer,
    class_weights_for,
    train_loader,
    train_transforms,
)
from segwise.train.config import (
    Config,
    ScheduleConfig,
    StageConfig,
    config_from_dict,
    config_to_dict,
    config_to_toml,
)
from segwise.train.device import autocast_dtype, select_device
from segwise.train.distributed import (
    DistInfo,
    any_rank,
    broadcast_floats,
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


# ----------------------------------------------------------------------------- set-up and progress


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global RNG, for third-party code)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@dataclass
class RunState:
    """Where a run stands after its last completed epoch: the progress a checkpoint stores, and all
    that resuming needs besides the weights, the optimizer and the random states."""

    epoch: int = 0  # completed epochs, all stages together
    step: int = 0  # optimizer steps done (the schedule's position)
    best_miou: float = -1.0  # best validation mIoU so far (that of best.pt)
    stale_epochs: int = 0  # validations since the best one (early stopping)
    stage: int = 0  # the stage that the next epoch belongs to (len(stages) when all are done)
    stage_epoch: int = 0  # epochs of that stage done
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics.csv row per epoch
    train_seconds: float = 0.0  # training time so far, validation excluded (train.time_limit_minutes)
    # training, validation and checkpoint time so far (train.time_limit_includes_validation)
    wall_seconds: float = 0.0
    finished: bool = False  # the last stage is done, or training stopped early
    # train.time_schedule: the stage's anchor (budget.Anchor.to_list), measured seconds per step, and the
    # global step at which the stage began
    clock: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> RunState:
        """The progress stored in a checkpoint (the dict :func:`segwise.models.checkpoint.load_checkpoint` returns)."""
        return cls(
            epoch=ckpt["epoch"],
            step=ckpt["step"],
            best_miou=ckpt["best_miou"],
            stale_epochs=ckpt["stale_epochs"],
            stage=ckpt["stage"],
            stage_epoch=ckpt["stage_epoch"],
            history=list(ckpt.get("history", [])),
            train_seconds=ckpt.get("train_seconds", 0.0),
            wall_seconds=ckpt.get("wall_seconds", 0.0),
            finished=ckpt.get("finished", False),
            clock=dict(ckpt.get("clock", {})),
        )

    def to_progress(self) -> dict[str, Any]:
        """The progress entries of a checkpoint; :meth:`from_checkpoint` reads them back."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "best_miou": self.best_miou,
            "stale_epochs": self.stale_epochs,
            "history": self.history,
            "stage": self.stage,
            "stage_epoch": self.stage_epoch,
            "train_seconds": self.train_seconds,
            "wall_seconds": self.wall_seconds,
            "finished": self.finished,
            "clock": self.clock,
        }

    def end_epoch(self, stage: int, stage_epochs: int, seconds: float) -> bool:
        """Count a completed epoch of ``stage`` (``stage_epochs`` long) that trained for ``seconds``.

        Returns True when the epoch completes the stage; the state then points at the next stage.
        """
        self.epoch += 1
        self.train_seconds += seconds
        self.stage, self.stage_epoch = stage, self.stage_epoch + 1
        if self.stage_epoch < stage_epochs:
            return False
        self.stage, self.stage_epoch = stage + 1, 0
        return True

    def record_validation(self, miou: float) -> bool:
        """Count a validation with ``miou`` (NaN counts as 0); True when it beats the best so far."""
        miou = miou if math.isfinite(miou) else 0.0
        improved = miou > self.best_miou
        self.best_miou, self.stale_epochs = (miou, 0) if improved else (self.best_miou, self.stale_epochs + 1)
        return improved


def time_is_up(train_cfg: Any, run: RunState, epoch_seconds: float, val_seconds: float) -> bool:
    """Whether ``train.time_limit_minutes`` ends the run after the epoch just trained.

    By default only training time counts: the run stops once it passes the limit. With
    ``train.time_limit_includes_validation`` the wall time of epochs, validations and checkpoints counts,
    and the run stops when one more epoch (``epoch_seconds``) and two validations (``val_seconds``
    each: this epoch's and the next one's) would pass the limit, so it ends within it.

    Example:
        >>> from segwise.train.config import TrainConfig
        >>> cfg = TrainConfig(time_limit_minutes=1.0, time_limit_includes_validation=True)
        >>> time_is_up(cfg, RunState(train_seconds=30, wall_seconds=40), 10.0, 2.0)
        False
        >>> time_is_up(cfg, RunState(train_seconds=30, wall_seconds=40), 10.0, 6.0)
        True
    """
    limit = 60.0 * train_cfg.time_limit_minutes
    if not limit:
        return False
    if train_cfg.time_schedule:  # the stages end themselves within the limit; this only guards it
        return run.wall_seconds >= limit
    if not train_cfg.time_limit_includes_validation:
        return run.train_seconds >= limit
    return run.wall_seconds + epoch_seconds + 2 * val_seconds > limit


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
    before_step: Callable[[int], bool] | None = None,
) -> tuple[EpochStats, int]:
    """Run one epoch; returns the statistics and the next global step. ``ema`` is updated after each step.

    The epoch ends after ``max_batches`` batches (0: the whole loader), or before the step for which
    ``before_step(step)`` returns True (a time-budgeted stage that is over); no batch past the end is
    loaded. The mean loss is over the batches trained (NaN when none was).
    """
    model.train()
    step = start_step
    total = torch.zeros((), device=device)
    term_sums: dict[str, torch.Tensor] = {}
    seen = 0
    t0 = time.perf_counter()
    lr = lr_fn(step)
    batches = 0  # batches trained: the divisor of the epoch's mean loss
    batches_iter = iter(loader)
    while not (max_batches and batches >= max_batches) and not (
        before_step is not None and before_step(step)
    ):
        batch = next(batches_iter, None)
        if batch is None:
            break
        images, masks = batch
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
        batches += 1
        if on_step is not None or step % 10 == 0:
            value = float(total) / batches  # sync point: progress display and the NaN check
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"the loss became {value} at step {step} (lr {lr:.3g}). Lower optim.lr (e.g. x0.1), enable "
                    "optim.grad_clip, or check the data; the last good checkpoint was kept."
                )
            if on_step is not None:
                on_step(step, value, lr, images.shape[0])
    n = max(1, batches)
    mean = float(total) / n if batches else math.nan  # sync point: epoch summary
    if batches and not math.isfinite(mean):
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


def _forward(
    model: torch.nn.Module,
    images: torch.Tensor,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    channels_last: bool,
) -> torch.Tensor:
    """The logits of a batch, as validation computes them (device, memory format, autocast)."""
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext():
        return model(images)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader: DataLoader,
    num_classes: int,
    ignore_index: int | None,
    device: torch.device,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = True,
    per_image: bool = False,
    probs: ProbabilityAccumulator | None = None,
) -> ConfusionMatrix:
    """Confusion matrix of ``model`` over ``loader`` (summed across processes when distributed).

    With ``probs``, the softmax of the logits (float32) is also fed to that state, image by image.
    """
    model.eval()
    state = ConfusionMatrix(num_classes, ignore_index, per_image=per_image)
    for images, masks in loader:
        logits = _forward(model, images, device, amp_dtype, channels_last)
        state.update(logits.float().argmax(1), masks.to(device))
        if probs is not None:
            probs.update(logits.float().softmax(1).cpu().numpy(), masks.numpy())
    state.all_reduce()
    if probs is not None:
        probs.all_reduce()
    return state


# ----------------------------------------------------------------------------- checkpoints


def _time_validation(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    channels_last: bool,
) -> float:
    """Seconds a validation pass over ``loader`` should take: the first batch run once to warm up, then
    up to three batches timed, times the batches. (Timing the cold first batch alone overestimated a
    validation of 300 MRI slices 6x, and the time kept in reserve for it was lost to training.)"""
    batches = list(itertools.islice(iter(loader), 3))
    if not batches:
        return 0.0
    model.eval()
    with torch.no_grad():
        _forward(model, batches[0][0], device, amp_dtype, channels_last).float().argmax(1).cpu()
        t0 = time.perf_counter()
        for batch in batches:
            _forward(model, batch[0], device, amp_dtype, channels_last).float().argmax(1).cpu()
    model.train()
    return (time.perf_counter() - t0) / len(batches) * len(loader)


def _params_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


# ----------------------------------------------------------------------------- the run


def _stage_settings(cfg: Config, stage: StageConfig) -> tuple[float, str, str | list[Any], list[int]]:
    lr = cfg.optim.lr if stage.lr is None else stage.lr
    schedule = stage.schedule or cfg.schedule.name
    augment = stage.augment or cfg.data.augment
    crop = stage.crop_size or cfg.data.crop_size
    return lr, schedule, augment, crop


def _stage_lr(
    sched: ScheduleConfig, name: str, lr: float, start: int, steps: int, warmup: int
) -> Callable[[int], float]:
    """The learning rate at a global step of a stage that begins at global step ``start`` and lasts
    ``steps`` steps, under schedule ``name`` (``lr_at``: a pure function of the step)."""
    return lambda step: lr_at(step - start, steps, lr, name, warmup, sched.power, sched.min_lr_ratio)


def _wrap(
    model: torch.nn.Module, device: torch.device, dist_info: DistInfo, compile: bool
) -> torch.nn.Module:
    """The module that trains: ``model`` in DistributedDataParallel under torchrun, compiled if asked."""
    net = model
    if dist_info.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    if compile:
        net = torch.compile(net)
    return net


def _validation_row(
    model: torch.nn.Module,
    loader: DataLoader,
    spec: Any,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    channels_last: bool,
) -> dict[str, float]:
    """The validation columns of a metrics.csv row: accuracies, mIoU, seconds and the IoU of each class."""
    t0 = time.perf_counter()
    val = validate(
        model,
        loader,
        spec.num_classes,
        spec.ignore_index,
        device,
        amp_dtype=amp_dtype,
        channels_last=channels_last,
    )
    scores = val.compute()
    return {
        "val_pixel_accuracy": scores["pixel_accuracy"],
        "val_mean_accuracy": scores["mean_accuracy"],
        "val_miou": scores["miou"],
        "val_seconds": time.perf_counter() - t0,
        **{f"val_iou_{name}": float(v) for name, v in zip(spec.class_names, scores["iou"], strict=True)},
    }


def train(
    cfg: Config,
    resume: str | os.PathLike[str] | None = None,
    *,
    console: Any = None,
    progress: bool | None = None,
    started: float | None = None,
) -> Path:
    """Train as configured; returns the run folder (``config.toml``, ``last.pt``, ``best.pt``,
    ``metrics.csv``, TensorBoard events).

    With ``resume`` (a run folder or a checkpoint), training continues from the end of the last
    completed epoch with the same weights, optimizer, schedule position and RNG states.

    A run that fails before its first ``last.pt`` removes what it wrote (and its folder, if it made
    it); one that fails later keeps the folder with a ``FAILED`` file naming the ``--resume`` that
    continues it. The error propagates unchanged.

    ``started`` (a :func:`time.perf_counter` value) is when the time limit of a new run starts to
    count; by default after the data and the model are built (``train --auto`` passes the moment it
    handed over, so building counts as well).
    """
    device = select_device(cfg.train.device)
    dist_info = init_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    try:
        with RunFolder(enabled=dist_info.is_main, console=console) as folder:
            return _train(cfg, resume, device, dist_info, folder, console, progress, started)
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
    started: float | None = None,
) -> Path:
    # 1. run folder, resume state, seeds ---------------------------------------------------------
    state: dict[str, Any] | None = None  # the checkpoint resumed from
    if resume is not None:
        resume = Path(resume)
        state = load_checkpoint(resume / "last.pt" if resume.is_dir() else resume, needs=RESUME_KEYS)
        cfg = config_from_dict(state["config"])
        run_dir = resume if resume.is_dir() else resume.parent
    else:
        run_dir = Path(cfg.train.out_dir)
    run = RunState() if state is None else RunState.from_checkpoint(state)
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
        folder.resume(run_dir, run.epoch)
    log.print_config(config_to_toml(cfg), run_dir)
    log.load_history(run.history)

    # 2. data, model, loss ----------------------------------------------------------------------
    stages = cfg.effective_stages()
    _, _, augment, crop = _stage_settings(cfg, stages[min(run.stage, len(stages) - 1)])
    data = build_data(cfg.data, cfg.train.seed, dist_info, augment, crop)
    data_settings = (augment, crop)
    spec = data.spec
    model = build_model(cfg.model, spec)
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
    loss_fn = build_loss(cfg.loss, spec, class_weights_for(cfg.data, data.train_set))
    if hasattr(loss_fn, "to"):
        loss_fn = loss_fn.to(device)
    net = _wrap(model, device, dist_info, cfg.train.compile)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 and device.type == "cuda" else None

    # 3. stages of epochs -------------------------------------------------------------------------
    from segwise.models import freeze_encoder, unfreeze_encoder

    first_stage, total_epochs, stop = run.stage, cfg.total_epochs(), False
    val_seconds = 0.0  # the last validation's duration (train.time_limit_includes_validation)
    save_seconds = 0.0  # the last write of last.pt (train.time_schedule keeps time for the final one)
    # wall time counts epochs, validations and saves (and, with `started`, building the data and model)
    wall_origin = started if state is None and started is not None else time.perf_counter() - run.wall_seconds
    epoch_mark: float | None = None  # end of the last validation: an epoch's cost includes the saves after it
    last_val_wall = run.wall_seconds  # wall seconds at the last validation (train.eval_every_minutes)
    timed = None
    if cfg.train.time_schedule:
        timed = TimedStages(
            cfg,
            stages,
            wall_origin,
            lambda: (val_seconds, save_seconds),
            sync=lambda values: broadcast_floats(values, dist_info, device),
        )
    if timed is not None and not run.finished:
        val_seconds = _time_validation(net, data.val_loader, device, amp_dtype, cfg.train.channels_last)
    for s_idx in range(first_stage, len(stages)):
        stage = stages[s_idx]
        lr, schedule, augment, crop = _stage_settings(cfg, stage)
        if (augment, crop) != data_settings:  # a stage may change augmentation or resolution
            data.train_set.transforms = train_transforms(cfg.data, spec, cfg.train.seed, augment, crop)
            data.train_loader = train_loader(cfg.data, data.train_set, dist_info, cfg.train.seed)
            data_settings = (augment, crop)
        stride = int(getattr(model, "required_multiple", 1) or 1)
        if crop and any(v % stride for v in crop):
            log.note(
                f"warning: training crops {crop[0]}x{crop[1]} are not multiples of the network's stride {stride}: the "
                "network pads them itself and its padded rows never get a loss, which shows at prediction as wrong "
                f"classes along image borders. Use crop sides that are multiples of {stride} (data.crop_size or "
                "the stage's crop_size)."
            )
        (freeze_encoder if stage.freeze_encoder else unfreeze_encoder)(model)
        optimizer = build_optimizer(cfg.optim, [p for p in model.parameters() if p.requires_grad], lr)
        if state is not None and state.get("optimizer_stage") == s_idx:
            optimizer.load_state_dict(state["optimizer"])
        if state is not None and s_idx == first_stage:
            set_rng_state(state["rng"])
        steps_per_epoch = len(data.train_loader)
        if cfg.train.max_train_batches:
            steps_per_epoch = min(steps_per_epoch, cfg.train.max_train_batches)
        start = run.step - run.stage_epoch * steps_per_epoch  # a resumed stage continues its schedule
        warmup = int(cfg.schedule.warmup_epochs * steps_per_epoch)
        lr_fn = _stage_lr(cfg.schedule, schedule, lr, start, steps_per_epoch * stage.epochs, warmup)
        clock = None
        if timed is not None:  # the stage follows the time limit: lr and end from its clock
            clock = timed.stage_clock(s_idx, run.clock, run.step, steps_per_epoch)
            lr_fn = timed.stage_lr(clock, schedule, lr, run.clock["stage_step"], warmup)

        for _ in range(run.stage_epoch, stage.epochs) if clock is None else itertools.count():
            epoch_start = epoch_mark if epoch_mark is not None else time.perf_counter()
            if clock is not None:
                clock.resume(run.step)
            sampler = data.train_loader.sampler
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(run.epoch)
            # a time-budgeted stage has no epoch count: it ends on its clock (the log shows the epoch only)
            shown = total_epochs if clock is None else 0
            with log.epoch_progress(run.epoch + 1, shown, steps_per_epoch, stage.name) as on_step:
                stats, run.step = train_one_epoch(
                    net,
                    data.train_loader,
                    loss_fn,
                    optimizer,
                    lr_fn,
                    device,
                    start_step=run.step,
                    amp_dtype=amp_dtype,
                    scaler=scaler,
                    channels_last=cfg.train.channels_last,
                    grad_clip=cfg.optim.grad_clip,
                    max_batches=cfg.train.max_train_batches,
                    on_step=on_step,
                    ema=ema,
                    before_step=None if clock is None else clock.before_step,
                )
            stage_epochs = stage.epochs
            if clock is not None:
                clock.pause(run.step)
                run.clock.update(anchor=clock.anchor.to_list(), seconds_per_step=clock.seconds_per_step)
                stage_epochs = run.stage_epoch + 1 if clock.finished(run.step) else 2**62
            stage_done = run.end_epoch(s_idx, stage_epochs, stats.seconds)
            row: dict[str, Any] = {
                "epoch": run.epoch,
                "stage": stage.name or str(s_idx),
                "step": run.step,
                "lr": stats.lr,
                "train_loss": stats.loss,
                **{f"train_{k}": v for k, v in stats.terms.items()},
                "img_per_s": stats.images * dist_info.world_size / max(stats.seconds, 1e-9),
                "epoch_seconds": stats.seconds,
            }
            run.wall_seconds = time.perf_counter() - wall_origin
            out_of_time = time_is_up(cfg.train, run, time.perf_counter() - epoch_start, val_seconds)
            out_of_time = any_rank(out_of_time, dist_info, device)  # every process stops at the same epoch
            # validate on schedule, at the end of a stage, and before a time-limit stop (so best.pt exists)
            improved = False
            if cfg.train.eval_every_minutes > 0:
                on_schedule = run.wall_seconds - last_val_wall >= 60.0 * cfg.train.eval_every_minutes
                on_schedule = any_rank(on_schedule, dist_info, device)  # each process reads its own clock
            else:
                on_schedule = run.epoch % cfg.train.eval_every == 0
            if on_schedule or stage_done or out_of_time:
                scored = net if ema is None else ema.module  # with an EMA, the average is what gets saved
                val_start = time.perf_counter()
                row.update(
                    _validation_row(scored, data.val_loader, spec, device, amp_dtype, cfg.train.channels_last)
                )
                val_seconds = time.perf_counter() - val_start
                last_val_wall = time.perf_counter() - wall_origin
                improved = run.record_validation(row["val_miou"])
            epoch_mark = time.perf_counter()
            run.wall_seconds = epoch_mark - wall_origin
            run.history.append(row)
            patience = cfg.train.early_stopping_patience
            stop = (patience > 0 and run.stale_epochs >= patience) or out_of_time
            run.finished = run.stage == len(stages) or stop
            if dist_info.is_main:
                if not _params_finite(model):
                    raise NonFiniteLossError(
                        f"the weights became NaN/inf in epoch {run.epoch}; not saving them. Lower optim.lr or enable "
                        "optim.grad_clip."
                    )
                progress_info = {
                    **run.to_progress(),
                    "optimizer_stage": s_idx,
                }  # a later stage builds its own optimizer
                payload = build_payload(
                    model,
                    spec,
                    config_to_dict(cfg),
                    optimizer=optimizer,
                    rng=rng_state(),
                    progress=progress_info,
                    # with an EMA, "model" (what predict, export and init_from read) holds the validated average
                    ema_weights=None if ema is None else ema.state_dict(),
                    ema_updates=0 if ema is None else ema.updates,
                )
                save_start = time.perf_counter()
                save_checkpoint(run_dir / "last.pt", payload)
                save_seconds = time.perf_counter() - save_start
                folder.saved(run.epoch)
                if improved:
                    save_checkpoint(run_dir / "best.pt", payload)
                log.epoch_end(row, run.best_miou)
            if stage_done and clock is not None:  # a time-budgeted stage ends on its clock, not a count
                break
            if stop:
                if run.stage < len(stages):  # the last epoch of the last stage is no early stop
                    reason = (
                        "time limit" if out_of_time else f"no val mIoU gain for {run.stale_epochs} epochs"
                    )
                    log.note(f"stopping early: {reason}")
                break
        if stop:
            break
    log.close()
    return run_dir


__all__ = ["NonFiniteLossError", "RunState", "time_is_up", "train", "train_one_epoch", "validate"]
