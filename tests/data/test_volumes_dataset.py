"""The volumes dataset: pairing, slicing along an axis, 2.5D context, intensity scaling, empty slices,
data init on a volume folder and data stats, on small synthetic volumes written at test time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segwise.cli import main
from segwise.data.datasets import create_dataset
from segwise.data.slices import group_channels, normalize_volume, pair_volume_cases, slice_stack
from segwise.data.spec import DatasetSpec, VolumeSlicing
from segwise.data.stats import class_stats
from segwise.data.volume_scan import scan_volume_folder
from segwise.data.volumes import Geometry, read_volume, write_volume
from segwise.errors import DataError, InputError
from tests.data._synth_volumes import GEOMETRY, SHAPE, write_cases

SPEC = {"name": "toy", "class_names": ["background", "organ"], "ignore_index": 255}


def dataset(root: Path, split: str = "all", **options):
    return create_dataset(
        "volumes", split, root, None, spec=SPEC, images="imagesTr", masks="labelsTr", **options
    )


# ----------------------------------------------------------------------------- pairing


def test_nnunet_channel_files_group_into_cases(tmp_path):
    write_cases(tmp_path, 3, channels=2)
    cases = pair_volume_cases(tmp_path / "imagesTr", tmp_path / "labelsTr")
    assert [c.id for c in cases] == ["case_00", "case_01", "case_02"]
    assert [p.name for p in cases[0].images] == ["case_00_0000.nii.gz", "case_00_0001.nii.gz"]
    assert cases[0].label.name == "case_00.nii.gz"


def test_plain_same_name_pairs_and_a_label_named_like_a_channel():
    files = [Path("a.nrrd"), Path("scan_0001.mha")]
    # a label with the full stem makes "scan_0001" a case of its own, not channel 1 of "scan"
    assert group_channels(files, {"a": Path("a.nrrd"), "scan_0001": Path("x")}) == {
        "a": (Path("a.nrrd"),),
        "scan_0001": (Path("scan_0001.mha"),),
    }
    with pytest.raises(DataError, match="without gaps"):
        group_channels([Path("scan_0001.mha")])


def test_unpaired_cases_are_all_listed(tmp_path):
    write_cases(tmp_path, 3)
    (tmp_path / "labelsTr" / "case_01.nii.gz").unlink()
    write_volume(tmp_path / "labelsTr" / "stray.nii.gz", np.zeros(SHAPE, np.uint8), GEOMETRY)
    with pytest.raises(DataError) as info:
        pair_volume_cases(tmp_path / "imagesTr", tmp_path / "labelsTr")
    msg = str(info.value)
    assert "case_01" in msg and "stray" in msg and "rename or remove" in msg


# ----------------------------------------------------------------------------- intensities


def test_mri_zscore_uses_the_nonzero_voxels():
    v = np.array([0.0, 0.0, 2.0, 4.0, 6.0])
    fg = np.array([2.0, 4.0, 6.0])
    expected = (v - fg.mean()) / fg.std()
    np.testing.assert_allclose(normalize_volume(v, "mri"), expected, rtol=1e-6)
    assert normalize_volume(np.zeros(4), "mri").tolist() == [0, 0, 0, 0]


def test_ct_window_clips_and_scales():
    out = normalize_volume(np.array([-2000, -160, 40, 240, 3000]), "ct", (-160, 240))
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1])
    assert normalize_volume(np.array([7.0]), "none").tolist() == [7.0]


def test_dataset_slices_are_scaled_per_volume(tmp_path):
    images = write_cases(tmp_path, 2, ct=True)
    ds = dataset(tmp_path, modality="ct", ct_window=[-160, 240])
    image, mask = ds.load_raw(5)  # case_00, slice 5 along z
    expected = np.clip((images["case_00_0"][5] + 160) / 400, 0, 1)
    np.testing.assert_allclose(image[..., 0], expected, atol=1e-6)
    assert image.dtype == np.float32 and image.shape == (32, 32, 1)
    label, _ = read_volume(tmp_path / "labelsTr" / "case_00.nii.gz")
    np.testing.assert_array_equal(mask, label[5])


# ----------------------------------------------------------------------------- axis and context


@pytest.mark.parametrize(("axis", "plane"), [(0, (32, 32)), (1, (24, 32)), (2, (24, 32))])
def test_axis_picks_the_slice_plane(tmp_path, axis, plane):
    images = write_cases(tmp_path, 2)
    ds = dataset(tmp_path, axis=axis, modality="none")
    assert len(ds) == 2 * SHAPE[axis]
    image, mask = ds.load_raw(SHAPE[axis] + 3)  # case_01, slice 3
    assert image.shape == (*plane, 1) and mask.shape == plane
    np.testing.assert_array_equal(image[..., 0], np.take(images["case_01_0"], 3, axis=axis))
    x, y = ds[0]
    assert tuple(x.shape) == (1, *plane) and tuple(y.shape) == plane


def test_context_stacks_neighbours_and_repeats_edges():
    v = np.stack(
        [
            np.arange(5, dtype=np.float32).reshape(5, 1, 1),
            10 + np.arange(5, dtype=np.float32).reshape(5, 1, 1),
        ]
    )
    # 2 channels x (2 * 2 + 1) slices; offset-major: offsets -2..2, both channels per offset
    assert slice_stack(v, 0, 0, 2)[0, 0].tolist() == [0, 10, 0, 10, 0, 10, 1, 11, 2, 12]
    assert slice_stack(v, 0, 4, 2)[0, 0].tolist() == [2, 12, 3, 13, 4, 14, 4, 14, 4, 14]


def test_model_input_channels_follow_channels_and_context(tmp_path):
    write_cases(tmp_path, 2, channels=2)
    ds = dataset(tmp_path, context=1, modality="none")
    assert ds.spec.in_channels == 6 and ds.spec.volume == VolumeSlicing(0, 1, "none", channels=2)
    image, _ = ds.load_raw(0)
    assert image.shape == (32, 32, 6)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])  # slice 0: offset -1 repeats the edge
    from segwise.train.build import build_model
    from segwise.train.config import ModelConfig

    net = build_model(
        ModelConfig(arch="unet", encoder="classic", options={"base_width": 4, "depth": 2}), ds.spec
    )
    import torch

    assert net(torch.zeros(1, 6, 32, 32)).shape == (1, 2, 32, 32)
    # the spec (checkpoints carry it) round-trips with its slicing
    assert DatasetSpec.from_json(ds.spec.to_json()) == ds.spec


def test_bad_options_are_clear(tmp_path):
    write_cases(tmp_path, 2)
    with pytest.raises(InputError, match="axis must be 0, 1 or 2"):
        dataset(tmp_path, axis=3)
    with pytest.raises(InputError, match="did you mean 'mri'"):
        dataset(tmp_path, modality="mrii")
    with pytest.raises(InputError, match="empty_slice_fraction"):
        dataset(tmp_path, empty_slice_fraction=2)


# ----------------------------------------------------------------------------- empty slices and splits


def test_empty_slice_fraction_thins_the_train_split_only(tmp_path):
    write_cases(tmp_path, 8)
    labels = [read_volume(p)[0] for p in sorted((tmp_path / "labelsTr").iterdir())]
    full = dataset(tmp_path, "train", empty_slice_fraction=1.0)
    thin = dataset(tmp_path, "train", empty_slice_fraction=0.25)
    again = dataset(tmp_path, "train", empty_slice_fraction=0.25)
    assert thin.slices == again.slices  # drawn once, by seed
    ids = [int(f.id[-2:]) for f in thin.files]
    fg = {j: labels[i].any(axis=(1, 2)) for j, i in enumerate(ids)}
    expected = sum(int(fg[j].sum()) + round(int((~fg[j]).sum()) * 0.25) for j in fg)
    assert len(thin) == expected < len(full) == 6 * SHAPE[0]
    assert sum(1 for j, s in thin.slices if fg[j][s]) == sum(int(v.sum()) for v in fg.values())
    val = dataset(tmp_path, "val", empty_slice_fraction=0.25)
    assert len(val) == 2 * SHAPE[0]  # validation keeps every slice
    assert {f.id for f in val.files}.isdisjoint(f.id for f in thin.files)


def test_split_files_name_cases(tmp_path):
    write_cases(tmp_path, 4)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("case_00\ncase_02\n")
    (tmp_path / "splits" / "val.txt").write_text("case_03\n")
    assert [f.id for f in dataset(tmp_path, "train").files] == ["case_00", "case_02"]
    assert [f.id for f in dataset(tmp_path, "val").files] == ["case_03"]


def test_uncached_dataset_keeps_few_volumes(tmp_path):
    write_cases(tmp_path, 4)
    ds = dataset(tmp_path, cache=False)
    for i in range(0, len(ds), 7):
        ds.load_raw(i)
    assert len(ds._memory) <= 4


# ----------------------------------------------------------------------------- data init and stats


def test_data_init_writes_a_volume_spec_and_starter(tmp_path, capsys):
    write_cases(tmp_path, 8, ct=True)
    rc = main(["data", "init", str(tmp_path), "--images", "imagesTr", "--masks", "labelsTr"])
    out = capsys.readouterr().out
    assert rc == 0, out
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert spec["volume"] == {
        "axis": 0,
        "context": 0,
        "modality": "ct",
        "window": [-1000.0, 1000.0],
        "channels": 1,
    }
    assert spec["class_names"] == ["background", "foreground"] and spec["mask_encoding"] == "index"
    toml = (tmp_path / "train.toml").read_text()
    assert 'dataset = "volumes"' in toml and "color_jitter" not in toml and 'images = "imagesTr"' in toml
    assert "8 cases" in out and "modality ct" in out


def test_scan_guesses_mri_and_the_thick_axis(tmp_path):
    write_cases(tmp_path, 3)
    scan = scan_volume_folder(tmp_path, images="imagesTr", masks="labelsTr")
    assert scan.spec.volume.modality == "mri" and scan.spec.volume.axis == 0  # z spacing 2.5 vs 0.8
    assert scan.num_slices == 3 * SHAPE[0] and set(scan.sizes) == {(32, 32)}


def test_data_init_reports_a_label_on_another_grid(tmp_path, capsys):
    write_cases(tmp_path, 3)
    moved = Geometry(GEOMETRY.spacing, (0.0, 0.0, 0.0), GEOMETRY.direction)
    bad = tmp_path / "labelsTr" / "case_01.nii.gz"
    write_volume(bad, read_volume(bad)[0], moved)
    rc = main(["data", "init", str(tmp_path), "--images", "imagesTr", "--masks", "labelsTr"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "case_01.nii.gz" in err and "origin" in err and "resample" in err
    assert not (tmp_path / "spec.json").exists()


def test_data_stats_counts_voxels_and_cases(tmp_path, capsys):
    write_cases(tmp_path, 4)
    labels = [read_volume(p)[0] for p in sorted((tmp_path / "labelsTr").iterdir())]
    stats = class_stats("volumes", "all", tmp_path, spec=SPEC, images="imagesTr", masks="labelsTr")
    fg = sum(int(v.sum()) for v in labels)
    assert stats.pixels.tolist() == [4 * np.prod(SHAPE) - fg, fg]
    assert stats.images.tolist() == [4, 4] and stats.num_images == 4
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    rc = main(
        [
            "data",
            "stats",
            "volumes",
            "--root",
            str(tmp_path),
            "--split",
            "all",
            "--images",
            "imagesTr",
            "--masks",
            "labelsTr",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "4 cases" in out and "voxels" in out


def test_mri_volumes_are_zscored_as_a_whole(tmp_path):
    write_cases(tmp_path, 2, channels=2)
    ds = dataset(tmp_path, modality="mri")
    for j in range(2):
        volume = np.asarray(ds.load_file_image(j))  # (C, z, y, x)
        for c in range(2):
            raw, _ = read_volume(ds.cases[ds.files[j].id].images[c])
            fg = volume[c][raw != 0]
            assert abs(fg.mean()) < 1e-4 and abs(fg.std() - 1) < 1e-4


def test_label_values_outside_the_classes_name_the_file(tmp_path):
    write_cases(tmp_path, 2)
    bad = tmp_path / "labelsTr" / "case_01.nii.gz"
    label, geo = read_volume(bad)
    label[0, 0, 0] = 3
    write_volume(bad, label, geo)
    with pytest.raises(DataError, match=r"label volume .*case_01\.nii\.gz.*3: 1 px"):
        dataset(tmp_path)


def test_cases_with_different_channel_counts_are_refused(tmp_path, capsys):
    write_cases(tmp_path, 3, channels=2)
    (tmp_path / "imagesTr" / "case_02_0001.nii.gz").unlink()
    rc = main(["data", "init", str(tmp_path), "--images", "imagesTr", "--masks", "labelsTr"])
    err = capsys.readouterr().err
    assert rc == 2 and "different channel counts" in err and "case_02" in err and "Traceback" not in err


def test_data_init_refuses_image_only_flags_on_volumes(tmp_path, capsys):
    write_cases(tmp_path, 2)
    rc = main(
        ["data", "init", str(tmp_path), "--images", "imagesTr", "--masks", "labelsTr", "--match", "^(.*)$"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--match" in err and "volume" in err


def test_an_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    write_cases(tmp_path, 2)
    ds = dataset(tmp_path, modality="none")
    calls = []
    monkeypatch.setattr(ds.cache, "_store", lambda entry, arr: calls.append(entry))  # stores nothing
    monkeypatch.setattr(ds.cache, "root", tmp_path / "elsewhere")  # no entry exists there
    import segwise.data.slices as slices

    decodes = []
    real = slices.read_case_image
    monkeypatch.setattr(slices, "read_case_image", lambda *a: decodes.append(1) or real(*a))
    for i in range(5):
        ds.load_raw(i)
    assert len(decodes) == 1 and len(ds._memory) >= 1
