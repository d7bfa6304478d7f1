"""End to end through the CLI on synthetic volumes: data init -> train (a few steps of a tiny U-Net on
slices, CPU) -> predict writes label volumes on the input's exact voxel grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segwise.cli import main
from segwise.data.slices import read_case_image, slice_stack
from segwise.data.spec import DatasetSpec, VolumeSlicing
from segwise.data.volumes import Geometry, read_volume
from segwise.infer.predict import Predictor
from segwise.infer.volumes import list_volume_cases, predict_volume
from segwise.models import create_model
from segwise.models.checkpoint import build_payload, save_checkpoint
from tests.data._synth_volumes import SHAPE, write_cases
from tests.infer.conftest import make_checkpoint

# rotated axes and an odd origin: a writer that dropped the direction or origin would be caught
GEOMETRY = Geometry((0.8, 0.7, 2.5), (-12.5, 40.25, 7.0), (0, -1, 0, 1, 0, 0, 0, 0, 1))
TINY = [
    "--set",
    "model.encoder=classic",
    "--set",
    "model.options.base_width=4",
    "--set",
    "model.options.depth=2",
]


@pytest.fixture(autouse=True)
def _private_decode_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEGWISE_CACHE", str(tmp_path_factory.mktemp("decode-cache")))


def test_init_train_predict_writes_label_volumes_on_the_input_grid(tmp_path, capsys):
    data = tmp_path / "data"
    write_cases(data, 6, ct=True, geometry=GEOMETRY)
    assert main(["data", "init", str(data), "--images", "imagesTr", "--masks", "labelsTr"]) == 0
    run = tmp_path / "run"
    rc = main(
        [
            "train",
            "--config",
            str(data / "train.toml"),
            *TINY,
            "--set",
            "data.options.context=1",
            "--set",
            "data.options.ct_window=[-200, 300]",
            "--set",
            "train.epochs=1",
            "--set",
            "train.max_train_batches=2",
            "--set",
            "train.eval_every=1",
            "--set",
            "data.workers=0",
            "--set",
            "data.batch_size=4",
            "--set",
            "train.device=cpu",
            "--set",
            f"train.out_dir={run}",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    # the checkpoint records the slicing: predict needs no flags for axis, context, modality or window
    out_dir = tmp_path / "pred"
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(run / "best.pt"),
            "--input",
            str(data / "imagesTr"),
            "--out",
            str(out_dir),
            "--device",
            "cpu",
        ]
    )
    printed = capsys.readouterr()
    assert rc == 0, printed.out + printed.err
    assert "context 1" in printed.out and "modality ct" in printed.out
    written = sorted(p.name for p in (out_dir / "index").iterdir())
    assert written == [f"case_{i:02d}.nii.gz" for i in range(6)]
    assert not (out_dir / "color").exists() and not (out_dir / "overlay").exists()
    for name in written:
        pred, geo = read_volume(out_dir / "index" / name)
        _, ref = read_volume(data / "labelsTr" / name)
        assert pred.shape == SHAPE and set(np.unique(pred).tolist()) <= {0, 1}
        np.testing.assert_allclose(geo.spacing, ref.spacing, rtol=1e-6)
        np.testing.assert_allclose(geo.origin, ref.origin, atol=1e-5)
        np.testing.assert_allclose(geo.direction, ref.direction, atol=1e-6)
        np.testing.assert_allclose(geo.direction, GEOMETRY.direction, atol=1e-6)
    # segwise eval reads the label volumes it wrote: one case per volume, surface distances in mm
    result = tmp_path / "eval.json"
    rc = main(
        [
            "eval",
            "--gt",
            str(data / "labelsTr"),
            "--pred",
            str(out_dir / "index"),
            "--spec",
            str(data / "spec.json"),
            "--surface",
            "--json",
            str(result),
        ]
    )
    printed = capsys.readouterr()
    assert rc == 0, printed.out + printed.err
    scored = json.loads(result.read_text())
    assert scored["num_images"] == 6 and scored["source"]["kind"] == "volumes"
    assert scored["surface"]["num_cases"] == 6
    # one case as a single file
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(run / "best.pt"),
            "--input",
            str(data / "imagesTr" / "case_02_0000.nii.gz"),
            "--out",
            str(tmp_path / "one"),
            "--device",
            "cpu",
        ]
    )
    capsys.readouterr()
    assert rc == 0 and [p.name for p in (tmp_path / "one" / "index").iterdir()] == ["case_02.nii.gz"]


def _volume_checkpoint(path, context=1, modality="none"):
    slicing = VolumeSlicing(axis=1, context=context, modality=modality)
    n = slicing.in_channels
    spec = DatasetSpec(
        "vol", ("bg", "fg"), ignore_index=255, in_channels=n, mean=(0.0,) * n, std=(1.0,) * n, volume=slicing
    )
    model = create_model("unet", 2, in_channels=n, encoder="classic", base_width=4, depth=2)
    save_checkpoint(path, build_payload(model, spec, {}))
    return path


def test_predict_volume_slices_along_the_trained_axis(tmp_path):
    write_cases(tmp_path, 1)
    ckpt = _volume_checkpoint(tmp_path / "v.pt")
    (case,) = list_volume_cases(tmp_path / "imagesTr")
    # a tile smaller than the slices: every slice goes through Predictor.predict (sliding window)
    windowed = Predictor.from_checkpoint(ckpt, tile=16, overlap=0.5)
    seen = []
    real = windowed.predict

    def spy(image, **kw):
        seen.append(image.shape)
        return real(image, **kw)

    windowed.predict = spy  # type: ignore[method-assign]
    labels, _ = predict_volume(windowed, case)
    assert labels.shape == SHAPE and len(seen) == SHAPE[1]  # one slice per y
    assert set(seen) == {(SHAPE[0], SHAPE[2], 3)}  # (z, x) slices with 1 + 2 context channels
    # whole slices: batches of slices give what one slice at a time gives
    whole = Predictor.from_checkpoint(ckpt, tta="flip")
    batched, _ = predict_volume(whole, case, slice_batch=5)
    one_by_one = np.stack(
        [
            whole.predict(slice_stack(read_case_image(case.images, whole.spec.volume)[0], 1, s, 1)).index
            for s in range(SHAPE[1])
        ],
        axis=1,
    )
    np.testing.assert_array_equal(batched, one_by_one)


def test_refusals_are_clear(tmp_path, capsys):
    write_cases(tmp_path, 1)
    ckpt = _volume_checkpoint(tmp_path / "v.pt")
    images = tmp_path / "imagesTr"
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(images),
            "--out",
            str(tmp_path / "o"),
            "--save",
            "index,probs",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--save probs" in err and "not available for volumes" in err and "Traceback" not in err
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(images),
            "--out",
            str(tmp_path / "o"),
            "--eval-gt",
            str(tmp_path / "labelsTr"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "segwise eval" in err
    # a 2D model given volumes, and a volume model given 2D images
    flat = make_checkpoint(tmp_path / "flat.pt")
    rc = main(["predict", "--checkpoint", str(flat), "--input", str(images), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "trained on 2D images" in err
    png_dir = tmp_path / "pngs"
    png_dir.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(png_dir / "a.png")
    rc = main(["predict", "--checkpoint", str(ckpt), "--input", str(png_dir), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "trained on slices of volumes" in err


def test_a_broken_volume_is_skipped_and_named(tmp_path, capsys):
    write_cases(tmp_path, 2)
    (tmp_path / "imagesTr" / "case_01_0000.nii.gz").write_bytes(b"not a volume")
    ckpt = _volume_checkpoint(tmp_path / "v.pt")
    rc = main(
        [
            "predict",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(tmp_path / "imagesTr"),
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "case_01_0000.nii.gz" in err and "Traceback" not in err
    assert [p.name for p in (tmp_path / "o" / "index").iterdir()] == ["case_00.nii.gz"]


def test_an_exported_volume_model_predicts_the_same_volumes(tmp_path):
    pytest.importorskip("onnxruntime")
    from segwise.infer.export import export_onnx
    from segwise.infer.volumes import predict_volumes

    write_cases(tmp_path, 1, ct=True)
    ckpt = _volume_checkpoint(tmp_path / "v.pt", modality="ct")
    onnx = export_onnx(ckpt, tmp_path / "v.onnx")
    cases = list_volume_cases(tmp_path / "imagesTr")
    predict_volumes(Predictor.from_checkpoint(ckpt), cases, tmp_path / "torch")
    predict_volumes(Predictor.from_onnx(onnx), cases, tmp_path / "onnx")
    a, ga = read_volume(tmp_path / "torch" / "index" / "case_00.nii.gz")
    b, gb = read_volume(tmp_path / "onnx" / "index" / "case_00.nii.gz")
    assert ga == gb and (a == b).mean() > 0.999
