"""MC dropout and TTA samples: entropy and mutual information maps, written and evaluated."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from segwise.errors import InputError
from segwise.infer.predict import Predictor, enable_mc_dropout, predict_image
from segwise.models.checkpoint import load_checkpoint
from tests.infer.conftest import SPEC, make_checkpoint, run_cli


@pytest.fixture(scope="module")
def dropout_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("mc") / "drop.pt", dropout=0.5)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8)


def test_mc_dropout_gives_seeded_non_constant_uncertainty(dropout_ckpt):
    p = Predictor.from_checkpoint(dropout_ckpt, mc_dropout=4, seed=3)
    assert p.num_samples == 4 and "MC dropout 4" in p.describe_sampling()
    bn = [m for m in p.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and not any(m.training for m in bn)  # BatchNorm stays in eval mode
    a = p.predict(_image(), return_uncertainty=True)
    b = p.predict(_image(), return_uncertainty=True)
    assert a.uncertainty.dtype == np.float16 and a.uncertainty.shape == (2, 24, 40)
    np.testing.assert_array_equal(a.uncertainty, b.uncertainty)  # seeded
    ent, mi = a.uncertainty.astype(np.float32)
    assert ent.std() > 0 and mi.max() > 0 and (mi >= 0).all()
    assert ent.max() <= math.log(SPEC.num_classes) + 1e-3 and (mi <= ent + 1e-3).all()
    c = Predictor.from_checkpoint(dropout_ckpt, mc_dropout=4, seed=4).predict(
        _image(), return_uncertainty=True
    )
    assert not np.array_equal(a.uncertainty, c.uncertainty)


def test_mean_probabilities_and_mi_match_a_restatement(dropout_ckpt):
    p = Predictor.from_checkpoint(dropout_ckpt, mc_dropout=3, seed=0)
    x = _image(1)
    out = p.predict(x, return_uncertainty=True)
    # the same passes by hand: the seed, then 3 forward passes with dropout active
    from segwise.infer.predict import to_input

    with torch.random.fork_rng(), torch.inference_mode():
        torch.manual_seed(0)
        probs = torch.stack([p.model(to_input(x[None], p.spec, p.device)).softmax(1)[0] for _ in range(3)])
    mean = probs.mean(0)
    h = -(mean * mean.clamp_min(1e-30).log()).sum(0)
    eh = -(probs * probs.clamp_min(1e-30).log()).sum(1).mean(0)
    np.testing.assert_array_equal(out.index, mean.argmax(0).numpy())
    np.testing.assert_allclose(out.uncertainty[0], h.numpy(), atol=2e-3)
    np.testing.assert_allclose(out.uncertainty[1], (h - eh).clamp_min(0).numpy(), atol=2e-3)


def test_tta_samples_without_dropout(tiny_ckpt):
    p = Predictor.from_checkpoint(tiny_ckpt, tta="flip,scales=0.75,1")
    u = p.predict(_image(), return_uncertainty=True).uncertainty.astype(np.float32)
    assert u[1].max() > 0  # the views disagree somewhere
    plain = Predictor.from_checkpoint(tiny_ckpt).predict(_image(), return_uncertainty=True).uncertainty
    assert float(np.abs(plain[1].astype(np.float32)).max()) == 0.0  # one sample: MI = 0


def test_model_without_dropout_is_a_clear_error(tiny_ckpt):
    with pytest.raises(InputError, match=r"model.dropout > 0.*create_model\(\.\.\., dropout="):
        Predictor.from_checkpoint(tiny_ckpt, mc_dropout=2)
    with pytest.raises(InputError, match="--mc-dropout must be an integer"):
        Predictor(torch.nn.Conv2d(3, 4, 1), SPEC, mc_dropout=-1)
    with pytest.raises(InputError, match="--checkpoint, not --onnx"):
        enable_mc_dropout(lambda x: x)


def test_predict_image_uncertainty_with_tiles(dropout_ckpt):
    model = Predictor.from_checkpoint(dropout_ckpt).model
    pred = predict_image(_image(), model, SPEC, tile=16, return_uncertainty=True)
    assert pred.uncertainty.shape == (2, 24, 40) and np.isfinite(pred.uncertainty).all()


def test_cli_predict_mc_dropout_then_eval_uncertainty(dropout_ckpt, shapes, tmp_path):
    out = tmp_path / "out"
    r = run_cli(
        [
            "predict",
            "--checkpoint",
            dropout_ckpt,
            "--input",
            shapes / "images",
            "--out",
            out,
            "--mc-dropout",
            "4",
            "--seed",
            "1",
            "--save",
            "index,uncertainty",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert "MC dropout 4" in r.stdout
    stems = sorted(p.stem for p in (shapes / "images").iterdir())
    for s in stems:
        a = np.load(out / "uncertainty" / f"{s}.npy")
        assert a.dtype == np.float16 and a.shape == (2, 48, 64)
        assert (out / "uncertainty" / f"{s}_entropy.png").is_file() and (
            out / "uncertainty" / f"{s}_mi.png"
        ).is_file()
    js = tmp_path / "r.json"
    r = run_cli(
        [
            "eval",
            "--gt",
            shapes / "masks",
            "--pred",
            out / "index",
            "--num-classes",
            SPEC.num_classes,
            "--ignore-index",
            "255",
            "--uncertainty",
            out / "uncertainty",
            "--json",
            js,
        ]
    )
    assert r.returncode == 0, r.stderr
    u = json.loads(js.read_text())["uncertainty"]
    assert set(u) >= {"error_auroc_entropy", "error_auroc_mi", "risk_coverage", "aurc"}
    assert u["risk_coverage"]["coverage"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    r = run_cli(
        [
            "predict",
            "--checkpoint",
            dropout_ckpt.parent / "missing.pt",
            "--input",
            shapes / "images",
            "--out",
            out,
            "--mc-dropout",
            "2",
        ]
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_cli_predict_eval_gt_metrics_equal_eval_of_the_written_outputs(dropout_ckpt, shapes, tmp_path):
    """predict --eval-gt --metrics probs,uncertainty scores in the same pass what eval --probs
    --uncertainty scores from the files it writes: the same keys, the same numbers."""
    out = tmp_path / "out"
    r = run_cli(
        [
            "predict",
            "--checkpoint",
            dropout_ckpt,
            "--input",
            shapes / "images",
            "--out",
            out,
            "--mc-dropout",
            "3",
            "--seed",
            "2",
            "--save",
            "index,probs,uncertainty",
            "--eval-gt",
            shapes / "masks",
            "--metrics",
            "probs,uncertainty",
        ]
    )
    assert r.returncode == 0, r.stderr
    same_pass = json.loads((out / "eval.json").read_text())
    js = tmp_path / "r.json"
    r = run_cli(
        [
            "eval",
            "--gt",
            shapes / "masks",
            "--probs",
            out / "probs",
            "--pred",
            out / "index",
            "--num-classes",
            SPEC.num_classes,
            "--ignore-index",
            "255",
            "--uncertainty",
            out / "uncertainty",
            "--json",
            js,
        ]
    )
    assert r.returncode == 0, r.stderr
    files = json.loads(js.read_text())
    for key in (
        "miou",
        "ece",
        "nll",
        "brier",
        "mce",
        "classwise_ece",
        "mean_roc_auc",
        "mean_average_precision",
    ):
        assert same_pass[key] == pytest.approx(files[key], abs=1e-9), key
    for key in ("error_auroc_entropy", "error_auroc_mi", "aurc"):
        assert same_pass["uncertainty"][key] == pytest.approx(files["uncertainty"][key], abs=1e-9), key
    assert 0.0 <= same_pass["ece"] <= 1.0 and same_pass["nll"] > 0
    r = run_cli(
        [
            "predict",
            "--checkpoint",
            dropout_ckpt,
            "--input",
            shapes / "images",
            "--out",
            out,
            "--metrics",
            "probs",
        ]
    )
    assert r.returncode == 2 and "--metrics adds scores against ground truth" in r.stderr
    r = run_cli(
        [
            "predict",
            "--checkpoint",
            dropout_ckpt,
            "--input",
            shapes / "images",
            "--out",
            out,
            "--eval-gt",
            shapes / "masks",
            "--metrics",
            "prob",
        ]
    )
    assert r.returncode == 2 and "did you mean 'probs'" in r.stderr


def test_checkpoint_keeps_the_dropout(dropout_ckpt):
    assert load_checkpoint(dropout_ckpt)  # readable; the rebuilt model has its dropout layer
    assert enable_mc_dropout(Predictor.from_checkpoint(dropout_ckpt).model) >= 1


def _edge_model() -> torch.nn.Module:
    """Blur -> dropout -> threshold at 0.6: a square comes out slightly shrunk, so the model errs
    just inside the object's edges, where the blurred score (and the uncertainty) is intermediate."""
    blur = torch.nn.Conv2d(3, 1, 7, padding=3, bias=False)
    head = torch.nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        blur.weight.fill_(1.0 / (3 * 49))
        head.weight.copy_(torch.tensor([0.0, 10.0]).view(2, 1, 1, 1))
        head.bias.copy_(torch.tensor([0.0, -6.0]))
    return torch.nn.Sequential(blur, torch.nn.Dropout(0.3), head)


def test_mc_dropout_uncertainty_finds_errors_at_object_edges():
    from segwise.data.spec import DatasetSpec
    from segwise.metrics.uncertainty import UncertaintyAccumulator

    spec = DatasetSpec("sq", ("bg", "fg"), mean=(0.0,) * 3, std=(1.0,) * 3)
    target = np.zeros((48, 48), np.uint8)
    target[12:36, 10:38] = 1
    image = np.repeat(target[..., None] * 255, 3, axis=2).astype(np.uint8)
    out = Predictor(_edge_model(), spec, mc_dropout=8, seed=0).predict(image, return_uncertainty=True)
    assert (out.index != target).any()  # errs somewhere (at the edges)
    acc = UncertaintyAccumulator(2, 255)
    acc.update(out.index, target, uncertainty=out.uncertainty)
    r = acc.result()["uncertainty"]
    assert r["error_auroc_entropy"] > 0.8 and r["error_auroc_mi"] > 0.5
    assert r["risk_coverage"]["risk"][4] < r["risk_coverage"]["risk"][-1]  # certain pixels err less
