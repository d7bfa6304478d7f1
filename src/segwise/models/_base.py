"""The base class of every segwise model and its 1x1-conv classifier head.

:class:`SegmentationModel` owns the template ``forward``: check the input, pad it to
``required_multiple``, run the network (:meth:`SegmentationModel.forward_padded`, which each
architecture implements), and crop the logits back to the input size. It also owns encoder
freezing, so that every architecture freezes the same way.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from segwise.errors import InputError
from segwise.models.padding import PAD_MODES, PadMode, crop_to, pad_to_multiple

__all__ = ["ClassifierHead", "SegmentationModel"]

_RUNNING_STAT_NORMS = nn.modules.batchnorm._NormBase  # BatchNorm*, InstanceNorm*, SyncBatchNorm


class ClassifierHead(nn.Module):
    """Dropout, then a 1x1 convolution to ``num_classes`` logits, then optional upsampling.

    The submodule names (``dropout``, ``classifier``, ``upsample``) are fixed, so state dicts
    match whatever the dropout probability.

    Shape:
        - x: ``(N, in_channels, h, w)``
        - output: ``(N, num_classes, h * upsampling, w * upsampling)``

    >>> head = ClassifierHead(16, 5, dropout=0.1)
    >>> tuple(head(torch.zeros(2, 16, 8, 8)).shape)
    (2, 5, 8, 8)
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0, upsampling: int = 1) -> None:
        super().__init__()
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        # align_corners=True as in smp's SegmentationHead, so smp-based models keep smp's behaviour.
        self.upsample = (
            nn.Upsample(scale_factor=upsampling, mode="bilinear", align_corners=True)
            if upsampling > 1
            else nn.Identity()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.classifier(self.dropout(x)))


class SegmentationModel(nn.Module):
    """Base class: ``(N, in_channels, H, W)`` float images to ``(N, num_classes, H, W)`` logits.

    Subclasses set ``encoder`` (the module :meth:`freeze_encoder` freezes and transfer learning
    loads), ``head`` (the class-dependent layers that are re-initialised when the class count
    changes) and implement :meth:`forward_padded` for inputs whose sides are multiples of
    ``required_multiple``.

    Attributes:
        arch: the registered architecture name.
        config: the keyword arguments of :func:`segwise.models.create_model` that rebuild this
            architecture (``create_model(**model.config)``); weights are not part of it.
        weights_source: where the encoder weights came from (``None``: random initialisation).
        weights_report: the :class:`~segwise.models.weights.LoadReport` of a local weights load.
    """

    arch: str = ""
    encoder: nn.Module
    head: nn.Module

    def __init__(
        self, *, in_channels: int, num_classes: int, required_multiple: int, pad_mode: PadMode
    ) -> None:
        super().__init__()
        if pad_mode not in PAD_MODES:
            raise InputError(f"Expected argument `pad_mode` to be one of {PAD_MODES}, but got {pad_mode!r}.")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.required_multiple = required_multiple
        self.pad_mode: PadMode = pad_mode
        self.config: dict[str, Any] = {}
        self.weights_source: str | None = None
        self.weights_report: Any = None
        self._encoder_frozen = False
        self._frozen_train_bn = False

    # ------------------------------------------------------------------ forward
    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for an input whose height and width are multiples of ``required_multiple``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes, H, W)`` for images ``(N, in_channels, H, W)`` of any H, W.

        Shape:
            - x: ``(N, in_channels, H, W)``, floating point
            - output: ``(N, num_classes, H, W)``
        """
        self._check_input(x)
        height, width = int(x.shape[-2]), int(x.shape[-1])
        padded, pads = pad_to_multiple(x, self.required_multiple, self.pad_mode)
        logits = self.forward_padded(padded)
        return crop_to(logits, pads, height, width)

    def _check_input(self, x: Any) -> None:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"`x` must be a torch.Tensor of shape (N,C,H,W), got {type(x).__name__}.")
        shape = tuple(x.shape)
        if x.ndim != 4:
            hint = " Add a batch dimension with x.unsqueeze(0)." if x.ndim == 3 else ""
            raise InputError(
                f"`x` must be a batch of images (N,{self.in_channels},H,W), got shape {shape}.{hint}"
            )
        if not x.is_floating_point():
            raise InputError(
                f"`x` must be floating point, got {str(x.dtype).replace('torch.', '')} {shape}. "
                "Convert with x.float() (and normalise, e.g. divide uint8 images by 255)."
            )
        if shape[1] != self.in_channels:
            raise InputError(
                f"`x` has {shape[1]} channels but the model was built with in_channels="
                f"{self.in_channels} (shape {shape}). Images are (N,C,H,W): if yours are (N,H,W,C), "
                "use x.permute(0, 3, 1, 2); otherwise rebuild the model with the right in_channels."
            )
        if shape[0] == 0 or shape[2] == 0 or shape[3] == 0:
            raise InputError(f"`x` is empty (shape {shape}); pass at least one pixel.")

    # ------------------------------------------------------------------ head
    def reset_head(self) -> None:
        """Re-initialise the class-dependent layers (``head``)."""
        for module in self.head.modules():
            if module is not self.head and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if hasattr(self.head, "reset_parameters"):
            self.head.reset_parameters()

    # ------------------------------------------------------------------ freezing
    @property
    def encoder_frozen(self) -> bool:
        """Whether :meth:`freeze_encoder` is in force."""
        return self._encoder_frozen

    def freeze_encoder(self, train_bn: bool = False) -> None:
        """Stop training the encoder: no gradient reaches its parameters.

        With ``train_bn=False`` (the default) the encoder's normalisation layers are also put in
        eval mode and kept there by :meth:`train`, so their running statistics stop changing and
        ``model.train()`` does not undo the freeze. With ``train_bn=True`` they keep updating their
        running statistics in train mode (their affine parameters are frozen either way).
        """
        for param in self.encoder.parameters():
            param.requires_grad_(False)
        self._encoder_frozen = True
        self._frozen_train_bn = bool(train_bn)
        self._apply_frozen_norm_mode()

    def unfreeze_encoder(self) -> None:
        """Undo :meth:`freeze_encoder`: encoder parameters train again, norms follow ``model.training``."""
        for param in self.encoder.parameters():
            param.requires_grad_(True)
        self._encoder_frozen = False
        self._frozen_train_bn = False
        for module in self.encoder.modules():
            if isinstance(module, _RUNNING_STAT_NORMS):
                module.train(self.training)

    def train(self, mode: bool = True) -> SegmentationModel:
        """Like :meth:`torch.nn.Module.train`, but a frozen encoder keeps its norm layers in eval."""
        if not isinstance(mode, bool):
            raise InputError(f"Expected argument `mode` to be a bool, but got {mode!r}.")
        super().train(mode)
        self._apply_frozen_norm_mode()
        return self

    def _apply_frozen_norm_mode(self) -> None:
        if not self._encoder_frozen or self._frozen_train_bn:
            return
        for module in self.encoder.modules():
            if isinstance(module, _RUNNING_STAT_NORMS):
                module.eval()

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch!r}, in_channels={self.in_channels}, num_classes={self.num_classes}, "
            f"required_multiple={self.required_multiple}, pad_mode={self.pad_mode!r}"
        )


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights ``(channels, channels, k, k)`` that make a ConvTranspose2d a bilinear upsampler.

    This is the FCN initialisation of its learnable upsampling layers.

    >>> bilinear_kernel(1, 4)[0, 0, 0].tolist()
    [0.0625, 0.1875, 0.1875, 0.0625]
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    filt1d = 1 - (og - center).abs() / factor
    filt = torch.outer(filt1d, filt1d).to(torch.float32)
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    for c in range(channels):
        weight[c, c] = filt
    return weight


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Raise :class:`InputError` unless ``value`` is an int >= ``minimum``; return it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"Expected argument `{name}` to be an integer >= {minimum}, but got {value!r}.")
    return value


def check_probability(name: str, value: Any) -> float:
    """Raise :class:`InputError` unless ``value`` is a float in [0, 1); return it as float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0.0 <= float(value) < 1.0):
        raise InputError(f"Expected argument `{name}` to be a probability in [0, 1), but got {value!r}.")
    if math.isnan(float(value)):
        raise InputError(f"Expected argument `{name}` to be a probability in [0, 1), but got NaN.")
    return float(value)
