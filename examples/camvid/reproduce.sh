#!/usr/bin/env bash
# Reproduce docs/results.md: train the best CPU recipe on CamVid (from scratch, one config with a
# resolution schedule: 64 half-resolution epochs, then 44 full-resolution epochs; 1 h 27 min on the
# 2-core AVX-512 BF16 machine of session 9, about 3 h on an AVX2-only CPU in fp32), predict the 233
# test images with the checkpoint selected on val, and score them with `segwise eval --all`.
#   SEGWISE_CAMVID=/path/to/camvid bash examples/camvid/reproduce.sh
# Outputs: runs/camvid_r18lite_halfres_schedule/ (checkpoints, metrics.csv, TensorBoard),
# runs/camvid_best_test/ (index/, color/, overlay/ PNGs, eval.json, eval.csv, report.html).
set -euo pipefail
: "${SEGWISE_CAMVID:=../shared/data/camvid}"
export SEGWISE_CAMVID
run=runs/camvid_r18lite_halfres_schedule
out=runs/camvid_best_test

# 1. Train from random weights: stage "half-res" on images scaled by 0.35-0.71, then stage
#    "full-res" (CE + Lovasz throughout). The run stops after its epochs or at
#    train.time_limit_minutes (112, the 2-hour budget); on a CPU without native bf16 add
#    --set train.time_limit_minutes=200 to let it finish. Add --resume "$run" to continue an
#    interrupted run.
segwise train --config examples/camvid/unet_r18lite_halfres_schedule.toml

# 2. Predict the test split with the best-on-val checkpoint (whole 360x480 images, fp32).
segwise predict --checkpoint "$run/best.pt" --input "$SEGWISE_CAMVID/test" --out "$out" \
    --save index,color,overlay

# 3. Score at 360x480 with void (11) ignored: G, C, mIoU, BF, Boundary IoU, objects, 95% CIs.
segwise eval --gt "$SEGWISE_CAMVID/testannot" --pred "$out/index" --num-classes 11 --ignore-index 11 \
    --classes examples/camvid/classes.csv --all \
    --json "$out/eval.json" --csv "$out/eval.csv" \
    --report "$out/report.html" --images "$SEGWISE_CAMVID/test"
