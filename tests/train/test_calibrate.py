"""``segwise calibrate``: temperature scaling fitted on a split, stored in a new checkpoint, applied by
predict and export; old checkpoints still load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from segwise.cli import main
from segwise.data.readers import read_image
from segwise.errors import CheckpointError
from segwise.infer import Predictor
from segwise.models.calibration import CalibrationScores, apply_calibration, fit_temperature
from segwise.models.checkpoint import checkpoint_calibration, load_checkpoint, save_checkpoint
from segwise.train import loop
from segwise.train.calibrate import calibrate_checkpoint
from segwise.train.config import load_config
from tests.train.conftest import tiny_overrides

V0 = Path(__file__).parents[1] / "fixtures" / "checkpoint_v0.pt"
SCALE = 40.0  # the head is multiplied by this after training: over-confident (the tiny model alone is not)


@pytest.fixture(scope="module")
def overconfident(shapes_root, tmp_path_factory) -> Path:
    """A tiny trained run (val and test splits) whose logits are multiplied by SCALE: RUN/best.pt."""
    out = tmp_path_factory.mktemp("calib") / "run"
    options = {"data.options": "{val_fraction = 0.25, test_fraction = 0.25}", "train.epochs": "3"}
    loop.train(load_config(None, tiny_overrides(shapes_root, out, **options)))
    ckpt = load_checkpoint(out / "best.pt")
    state = ckpt["model"]
    head = [k for k, v in state.items() if k.endswith("weight") and v.ndim == 4][-1]  # the 1x1 classifier
    state[head] = state[head] * SCALE
    state[head[: -len("weight")] + "bias"] = state[head[: -len("weight")] + "bias"] * SCALE
    save_checkpoint(
        out / "best.pt", {k: v for k, v in ckpt.items() if k not in ("format", "segwise_version")}
    )
    return out / "best.pt"


@pytest.fixture(scope="module")
def calibrated(overconfident):
    return calibrate_checkpoint(overconfident, split="val", eval_split="test")


def _sample(temperature: float, n: int = 60_000, classes: int = 5, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=gen) * 4
    target = torch.multinomial((logits / temperature).softmax(1), 1, generator=gen).squeeze(1)
    return logits, target


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_a_known_temperature_is_recovered_within_5_percent(temperature):
    fitted, bias = fit_temperature(*_sample(temperature))
    assert bias is None
    assert abs(fitted / temperature - 1) < 0.05


def test_per_class_bias_is_recovered_and_lowers_the_nll():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(60_000, 3, generator=gen) * 3
    true_bias = torch.tensor([1.0, 0.0, -1.0])
    target = torch.multinomial((logits / 2 + true_bias).softmax(1), 1, generator=gen).squeeze(1)
    t, bias = fit_temperature(logits, target, per_class_bias=True)
    assert abs(t / 2 - 1) < 0.05
    b = torch.tensor(bias)
    assert torch.allclose(b - b.mean(), true_bias - true_bias.mean(), atol=0.1)  # softmax ignores a shift
    t_only, _ = fit_temperature(logits, target)
    nll = torch.nn.functional.cross_entropy
    assert nll(apply_calibration(logits, t, bias), target) < nll(logits / t_only, target)


def test_scores_match_an_independent_reference_and_stream():
    logits, target = _sample(1.5, n=5000, classes=4)
    scores, parts = CalibrationScores(4), CalibrationScores(4)
    scores.update(logits, target)
    for i in range(0, 5000, 1234):
        parts.update(logits[i : i + 1234], target[i : i + 1234])
    p = logits.double().softmax(1).numpy()
    y = target.numpy()
    conf, pred = p.max(1), p.argmax(1)
    ref_nll = -np.log(p[np.arange(len(y)), y]).mean()
    ece = 0.0
    for b in range(15):  # equal-width bins (b/15, (b+1)/15]; conf is never exactly on an edge here
        sel = (conf > b / 15) & (conf <= (b + 1) / 15)
        if sel.any():
            ece += sel.mean() * abs((pred[sel] == y[sel]).mean() - conf[sel].mean())
    assert math.isclose(scores.nll, ref_nll, rel_tol=1e-9) and math.isclose(scores.ece, ece, rel_tol=1e-9)
    assert math.isclose(parts.nll, scores.nll, rel_tol=1e-12) and math.isclose(
        parts.ece, scores.ece, rel_tol=1e-12
    )
    assert scores.num_pixels == 5000
    assert math.isnan(CalibrationScores(4).nll) and math.isnan(CalibrationScores(4).ece)


def test_overconfident_model_gets_t_above_1_and_a_lower_held_out_nll(calibrated, overconfident):
    cal = calibrated.calibration
    assert cal.temperature > 1 and cal.bias is None and cal.split == "val"
    assert (
        cal.nll_after < cal.nll_before
    )  # ECE is reported, not optimised: on this weak model it need not drop
    assert 0 <= cal.ece_after <= 1 and 0 <= cal.ece_before <= 1
    val, test = calibrated.scores
    assert test.split == "test" and test.after.nll < test.before.nll  # held-out images
    assert calibrated.out == overconfident.parent / "calibrated.pt"
    assert cal.num_pixels == val.before.num_pixels > 0
    lines = calibrated.lines()
    assert lines[0].startswith("fitted on ") and "temperature" in lines[0]
    assert any(line.startswith("test ") for line in lines)


def test_the_calibrated_checkpoint_is_the_original_plus_calibration(calibrated, overconfident):
    original = load_checkpoint(overconfident)
    ckpt = load_checkpoint(calibrated.out, needs=("config",))
    assert set(ckpt) == set(original) | {"calibration"}
    assert all(torch.equal(ckpt["model"][k], v) for k, v in original["model"].items())
    assert checkpoint_calibration(ckpt, calibrated.out) == calibrated.calibration
    assert checkpoint_calibration(original, overconfident) is None


def test_predict_applies_the_temperature(calibrated, overconfident, shapes_root):
    image = read_image(sorted((shapes_root / "images").iterdir())[0])
    raw = Predictor.from_checkpoint(overconfident)
    cal = Predictor.from_checkpoint(calibrated.out)
    assert raw.calibration is None and raw.describe_calibration() == "uncalibrated"
    assert cal.describe_calibration().startswith("calibrated: temperature")
    p_raw, p_cal = raw.probabilities(image), cal.probabilities(image)
    assert not np.allclose(p_raw, p_cal, atol=1e-3)
    assert (p_cal.max(0) <= p_raw.max(0) + 1e-5).all()  # T > 1 softens the top probability
    assert np.array_equal(raw.predict(image).index, cal.predict(image).index)  # no bias: argmax unchanged


def test_cli_with_per_class_bias_and_predict_line(overconfident, shapes_root, tmp_path, capsys):
    out = tmp_path / "cal_bias.pt"
    rc = main(["calibrate", "--checkpoint", str(overconfident), "--out", str(out), "--per-class-bias"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "NLL before" in printed and f"wrote {out}" in printed and "bias [" in printed
    ckpt = load_checkpoint(out)
    cal = checkpoint_calibration(ckpt, out)
    assert cal is not None and cal.bias is not None and len(cal.bias) == len(ckpt["class_names"])
    images = shapes_root / "images"
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(out),
            "--input",
            str(images),
            "--out",
            str(tmp_path / "pred"),
            "--save",
            "index",
        ]
    )
    assert rc == 0
    assert "calibrated: temperature" in capsys.readouterr().out


def test_export_bakes_the_calibration_into_the_graph(calibrated, tmp_path):
    pytest.importorskip("onnxruntime")
    from segwise.infer import OnnxModel
    from segwise.models import model_from_checkpoint

    path = tmp_path / "cal.onnx"
    assert main(["export", "--checkpoint", str(calibrated.out), "--out", str(path)]) == 0
    onnx_model = OnnxModel(path)
    assert "temperature" in onnx_model.metadata["segwise.calibration"]
    model, spec = model_from_checkpoint(calibrated.out)
    x = torch.randn(1, spec.in_channels, 37, 45, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x) / calibrated.calibration.temperature
    assert torch.allclose(onnx_model(x), expected, atol=1e-4)
    assert "calibration in the ONNX graph" in Predictor.from_onnx(path).describe_calibration()


def test_a_damaged_calibration_entry_is_refused(calibrated, tmp_path):
    ckpt = load_checkpoint(calibrated.out)
    payload = {k: v for k, v in ckpt.items() if k not in ("format", "segwise_version")}
    for bad, why in ((-1.0, "temperature"), (float("nan"), "temperature"), ("2", "temperature")):
        payload["calibration"] = {**ckpt["calibration"], "temperature": bad}
        save_checkpoint(tmp_path / "bad.pt", payload)
        with pytest.raises(CheckpointError, match=why):
            load_checkpoint(tmp_path / "bad.pt")
    payload["calibration"] = {**ckpt["calibration"], "bias": [0.0, 1.0]}
    save_checkpoint(tmp_path / "bad.pt", payload)
    with pytest.raises(CheckpointError, match="2 biases for 6 classes"):
        load_checkpoint(tmp_path / "bad.pt")
    payload["calibration"] = {"temperature": 2.0}
    save_checkpoint(tmp_path / "bad.pt", payload)
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(tmp_path / "bad.pt")


def test_old_checkpoints_still_load_uncalibrated():
    ckpt = load_checkpoint(V0)
    assert "calibration" not in ckpt and checkpoint_calibration(ckpt, V0) is None
    assert Predictor.from_checkpoint(V0).calibration is None


def test_usage_errors_exit_2(overconfident, tmp_path, capsys):
    assert main(["calibrate", "--checkpoint", str(overconfident), "--out", str(overconfident)]) == 2
    assert "write a new file" in capsys.readouterr().err
    assert main(["calibrate", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["calibrate", "--checkpoint", str(overconfident), "--split", "nope"]) == 2
    capsys.readouterr()
