"""The optimizers by name: :data:`OPTIMIZERS`, the registry of ``optim.name``.

Adding an optimizer here makes it valid in the training config as well (the config is checked
against this registry when it is loaded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from segwise.errors import lookup

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], float, float, float], torch.optim.Optimizer]

# name -> optimizer(params, lr, weight_decay, momentum); momentum is used by sgd only
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": lambda params, lr, wd, momentum: torch.optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd, momentum: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
    "sgd": lambda params, lr, wd, momentum: torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=momentum > 0
    ),
}


def create_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """The optimizer ``name`` (a key of :data:`OPTIMIZERS`) over ``params``.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> type(create_optimizer("sgd", [w], 0.1)).__name__
        'SGD'
        >>> create_optimizer("adamm", [w], 0.1)
        Traceback (most recent call last):
        ...
        segwise.errors.InputError: unknown optimizer 'adamm'; did you mean 'adam'? available: adam, adamw, sgd.
    """
    return lookup(name, OPTIMIZERS, "optimizer")(params, lr, weight_decay, momentum)
