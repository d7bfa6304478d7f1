"""Why `train --auto` does its own successive halving instead of Optuna's pruner (docs/decisions.md).

Four candidates reach the first rung in turn with validation scores 0.40, 0.55, 0.50 and 0.60 (the
order `--auto` screens them in). Synchronous successive halving keeps the better half: 0.60 and 0.55.
Optuna's SuccessiveHalvingPruner is asynchronous (ASHA): a trial is judged against the trials that
reached the rung before it, so the first one always goes on, and here three of four do, the worst
included. Needs `pip install optuna` (not a segwise dependency).

    python benchmarks/optuna_halving.py
"""

import optuna

from segwise.train.screen import survivors

SCORES = {"planned": 0.40, "wide-decoder": 0.55, "ce+dice": 0.50, "full-res-only": 0.60}

optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    direction="maximize",
    pruner=optuna.pruners.SuccessiveHalvingPruner(
        min_resource=1, reduction_factor=2, min_early_stopping_rate=0
    ),
)
promoted = []
for name, score in SCORES.items():  # each candidate trains its first slice, then is judged
    trial = study.ask()
    trial.report(score, step=1)
    if not trial.should_prune():
        promoted.append(name)
print(f"optuna {optuna.__version__} SuccessiveHalvingPruner promotes: {promoted}")
print(f"segwise.train.screen.survivors keeps:            {survivors(SCORES)}")
