"""``segwise predict`` on files and folders: outputs, evaluation in the same pass, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from segwise.cli import main
from segwise.data.readers import read_image, read_mask
from segwise.evaluate import evaluate_folders
from segwise.infer import Predictor, predict_paths
from segwise.infer.files import parse_save

from .conftest import SPEC, make_checkpoint, run_cli


@pytest.fixture(scope="module")
def predicted(tiny_ckpt, shapes, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pred")
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(tiny_ckpt),
            "--input",
            str(shapes / "images"),
            "--out",
            str(out),
            "--save",
            "index,color,overlay,probs",
            "--tile",
            "32",
            "--eval-gt",
            str(shapes / "masks"),
        ]
    )
    assert rc == 0
    return out


def test_outputs_of_every_kind(predicted, shapes, tiny_ckpt):
    stems = sorted(p.stem for p in (shapes / "images").glob("*.png"))
    for kind, ext in (("index", ".png"), ("color", ".png"), ("overlay", ".jpg"), ("probs", ".npy")):
        assert sorted(p.name for p in (predicted / kind).iterdir()) == [s + ext for s in stems], kind
    predictor = Predictor.from_checkpoint(tiny_ckpt, tile=32)
    image = read_image(shapes / "images" / f"{stems[0]}.png")
    pred = predictor.predict(image, return_probs=True)
    index = read_mask(predicted / "index" / f"{stems[0]}.png")
    assert index.dtype == np.uint8 and np.array_equal(index, pred.index)
    color = cv2.cvtColor(cv2.imread(str(predicted / "color" / f"{stems[0]}.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(color, np.array(SPEC.colors, np.uint8)[pred.index])
    overlay = cv2.imread(str(predicted / "overlay" / f"{stems[0]}.jpg"))
    assert overlay.shape == (*image.shape[:2], 3)
    probs = np.load(predicted / "probs" / f"{stems[0]}.npy")
    assert probs.dtype == np.float16 and probs.shape == (SPEC.num_classes, *image.shape[:2])
    assert np.array_equal(probs, pred.probs)
    np.testing.assert_allclose(probs.astype(np.float64).sum(0), 1.0, atol=1e-2)
    assert not list(predicted.rglob("*.tmp"))


def test_index_pngs_are_what_segwise_eval_reads_and_eval_gt_agrees(predicted, shapes):
    same_pass = json.loads((predicted / "eval.json").read_text())
    separate = evaluate_folders(
        shapes / "masks", predicted / "index", num_classes=6, ignore_index=255, workers=1
    )
    assert same_pass["kind"] == "segwise.eval_result"
    assert same_pass["confusion_matrix"] == separate["confusion_matrix"]
    assert same_pass["miou"] == pytest.approx(separate["miou"])
    assert [r["name"] for r in same_pass["per_image"]] == [r["name"] for r in separate["per_image"]]
    assert [r["miou"] for r in same_pass["per_image"]] == pytest.approx(
        [r["miou"] for r in separate["per_image"]]
    )
    assert same_pass["spec"]["class_names"] == list(SPEC.class_names)


def test_installed_cli_with_a_report(tiny_ckpt, shapes, tmp_path):
    proc = run_cli(
        [
            "predict",
            "--checkpoint",
            tiny_ckpt,
            "--input",
            shapes / "images" / "shape_0001.png",
            "--out",
            tmp_path / "o",
            "--tta",
            "flip",
            "--eval-gt",
            shapes / "masks",
            "--report",
            tmp_path / "r.html",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "img/s" in proc.stdout
    assert (tmp_path / "o" / "index" / "shape_0001.png").is_file()
    assert "Per-class scores" in (tmp_path / "r.html").read_text()


def test_unreadable_inputs_are_skipped_and_reported(tiny_ckpt, shapes, tmp_path, capsys):
    inputs = tmp_path / "in"
    shutil.copytree(shapes / "images", inputs)
    (inputs / "broken.png").write_bytes((inputs / "shape_0000.png").read_bytes()[:100])
    (inputs / "notes.jpg").write_text("not an image")
    out = tmp_path / "out"
    rc = main(["predict", "--checkpoint", str(tiny_ckpt), "--input", str(inputs), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "2 of 8 inputs could not be read" in err and "broken.png" in err and "notes.jpg" in err
    written = sorted(p.stem for p in (out / "index").iterdir())
    assert written == sorted(p.stem for p in (shapes / "images").iterdir())  # the 6 good ones, complete
    for p in (out / "index").iterdir():
        assert read_mask(p).shape == (48, 64)


def test_channel_count_differs_from_the_model(tmp_path, shapes, capsys):
    spec = SPEC.replace(in_channels=4, mean=(0.5,) * 4, std=(0.25,) * 4)
    ckpt = make_checkpoint(tmp_path / "rgbi.pt", spec)
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(shapes / "images" / "shape_0000.png"),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "expects 4 channels" in err and "shape_0000.png" in err
    assert not [p for p in out.rglob("*") if p.is_file()]


def test_output_folder_that_is_not_writable(tiny_ckpt, shapes, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(tiny_ckpt),
            "--input",
            str(shapes / "images"),
            "--out",
            str(blocker / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--out" in err and "not a writable folder" in err and "Traceback" not in err


def test_bad_checkpoint_via_the_cli(tmp_path, shapes, capsys):
    ckpt = tmp_path / "cut.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(shapes / "images"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "truncated" in err and "Traceback" not in err
    assert not [p for p in (tmp_path / "o").rglob("*") if p.is_file()]


def test_missing_ground_truth_fails_before_writing(tiny_ckpt, shapes, tmp_path):
    gt = tmp_path / "gt"
    shutil.copytree(shapes / "masks", gt)
    (gt / "shape_0003.png").unlink()
    predictor = Predictor.from_checkpoint(tiny_ckpt)
    with pytest.raises(ValueError, match="no ground-truth mask for 1 inputs"):
        predict_paths(predictor, shapes / "images", tmp_path / "o", eval_gt=gt)
    assert not (tmp_path / "o" / "index").exists()


@pytest.mark.parametrize(
    "args,match",
    [
        (["--save", "index,heatmap"], "unknown output"),
        (["--tta", "rotate"], "unknown item"),
        (["--tile", "4"], "--tile"),
        (["--report", "r.html"], "--report needs --eval-gt"),
    ],
)
def test_bad_options(tiny_ckpt, shapes, tmp_path, capsys, args, match):
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(tiny_ckpt),
            "--input",
            str(shapes / "images"),
            "--out",
            str(tmp_path),
            *args,
        ]
    )
    assert rc == 2 and match in capsys.readouterr().err


def test_parse_save():
    assert parse_save("index,color,index") == ("index", "color")
    with pytest.raises(ValueError, match="choose from"):
        parse_save("")


def test_eval_gt_adds_metric_families_like_segwise_eval(predicted, tiny_ckpt, shapes, tmp_path):
    """predict --eval-gt goes through the evaluation pipeline: families plug in as for segwise eval."""
    predictor = Predictor.from_checkpoint(tiny_ckpt, tile=32)
    summary = predict_paths(
        predictor,
        shapes / "images",
        tmp_path / "o",
        save=("index",),
        eval_gt=shapes / "masks",
        families=("boundary", "regions"),
        family_options={"bf_theta": 2.0},
    )
    same_pass = summary.result
    separate = evaluate_folders(
        shapes / "masks",
        tmp_path / "o" / "index",
        num_classes=6,
        ignore_index=255,
        workers=1,
        families=("boundary", "regions"),
        family_options={"bf_theta": 2.0},
    )
    pixels_only = json.loads((predicted / "eval.json").read_text())
    assert "bf" not in pixels_only and "objects" not in pixels_only  # the default: pixel scores only
    assert same_pass["confusion_matrix"] == separate["confusion_matrix"] == pixels_only["confusion_matrix"]
    assert same_pass["bf"] == pytest.approx(separate["bf"]) and same_pass["biou"] == pytest.approx(
        separate["biou"]
    )
    np.testing.assert_equal(same_pass["objects"], separate["objects"])  # NaN where undefined
    assert same_pass["policy"]["bf_theta"] == 2.0
