#!/usr/bin/env bash
# Reproduce docs/results.md: train the best CPU recipe on CamVid (from scratch, two stages, about
# 1 h 57 min on 2 CPU cores), predict the 233 test images with the checkpoint selected on val, and
# score them with `segwise eval --all`.
#   SEGWISE_CAMVID=/path/to/camvid bash examples/camvid/reproduce.sh
# Outputs: runs/camvid_unet_r18lite_crops_2h/ and runs/camvid_unet_r18lite_finetune_lovasz_unweighted/
# (checkpoints, metrics.csv, TensorBoard),
# runs/camvid_best_test/ (index/, color/, overlay/ PNGs, eval.json, eval.csv, report.html).
set -euo pipefail
: "${SEGWISE_CAMVID:=../shared/data/camvid}"
export SEGWISE_CAMVID
run=runs/camvid_unet_r18lite_finetune_lovasz_unweighted
out=runs/camvid_best_test

# 1. Train stage 1 from random weights (CE + Dice), then stage 2 from stage 1's best.pt
#    (CE + Lovasz; model.init_from). Each stops after its epochs or at train.time_limit_minutes.
#    Add --resume RUN_FOLDER to continue an interrupted stage.
segwise train --config examples/camvid/unet_r18lite_crops_2h.toml
segwise train --config examples/camvid/unet_r18lite_finetune_lovasz_unweighted.toml

# 2. Predict the test split with the best-on-val checkpoint (whole 360x480 images, fp32).
segwise predict --checkpoint "$run/best.pt" --input "$SEGWISE_CAMVID/test" --out "$out" \
    --save index,color,overlay

# 3. Score at 360x480 with void (11) ignored: G, C, mIoU, BF, Boundary IoU, objects, 95% CIs.
segwise eval --gt "$SEGWISE_CAMVID/testannot" --pred "$out/index" --num-classes 11 --ignore-index 11 \
    --classes examples/camvid/classes.csv --all \
    --json "$out/eval.json" --csv "$out/eval.csv" \
    --report "$out/report.html" --images "$SEGWISE_CAMVID/test"
