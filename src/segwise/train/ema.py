"""An exponential moving average (EMA) of a model's weights, for evaluation and checkpoints.

After every optimiser step ``ema = d * ema + (1 - d) * weights`` for each floating-point tensor
of the state dict (parameters and BatchNorm running statistics, as timm's ``ModelEmaV2`` does);
integer buffers (``num_batches_tracked``) are copied. The decay warms up as
``d_n = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (TensorFlow's
``ExponentialMovingAverage(num_updates=...)``), so the average does not hold on to the first
weights for ``1 / (1 - decay)`` steps.
"""

from __future__ import annotations

import copy

import torch


class ModelEma:
    """Keep an EMA copy of ``model`` (in eval mode, without gradients) and update it from ``model``.

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> ema = ModelEma(net, decay=0.9)
        >>> with torch.no_grad():
        ...     _ = net.weight.add_(1.0)
        >>> ema.update()
        >>> ema.updates, ema.decay_at(1)
        (1, 0.18181818181818182)
    """

    def __init__(self, model: torch.nn.Module, decay: float, updates: int = 0) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}.")
        self.source = model
        self.decay = decay
        self.updates = updates
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def decay_at(self, n: int) -> float:
        """The decay used by the ``n``-th update (1-based)."""
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = self.decay_at(self.updates)
        source = self.source.state_dict()
        for name, avg in self.module.state_dict().items():
            new = source[name].detach()
            if avg.is_floating_point():
                avg.lerp_(new.to(avg.dtype), 1.0 - d)
            else:
                avg.copy_(new)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


__all__ = ["ModelEma"]
