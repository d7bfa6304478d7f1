"""Datasets: folder and CamVid end to end, the registry, the decode cache, bad input, determinism."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from segwise.data import CAMVID_SPEC, DatasetSpec, build_loader, build_transforms, create_dataset
from segwise.data.base import SegmentationDataset
from segwise.data.cache import DecodeCache
from segwise.data.camvid import resolve_camvid_root
from segwise.errors import DataError, InputError
from tests.data._synth import make_folder, write_image

SPEC = DatasetSpec("toy", ("a", "b", "c"), ignore_index=255, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))


@pytest.fixture
def folder(tmp_path):
    data = make_folder(tmp_path / "ds", n=6)
    (tmp_path / "ds" / "spec.json").write_text(SPEC.to_json())
    return tmp_path / "ds", data


def test_folder_dataset_returns_normalised_tensors(folder, tmp_path):
    root, data = folder
    ds = create_dataset("folder", "all", root, cache=tmp_path / "cache")
    assert len(ds) == 6 and ds.spec == SPEC
    image, mask = ds[2]
    ref_img, ref_mask = data[ds.ids[2]]
    assert image.dtype == torch.float32 and image.shape == (3, 24, 32)
    assert mask.dtype == torch.int64 and mask.shape == (24, 32)
    # reference: (x / 255 - mean) / std, channel first
    expected = (ref_img.astype(np.float64) / 255 - np.array(SPEC.mean)) / np.array(SPEC.std)
    np.testing.assert_allclose(image.numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    np.testing.assert_array_equal(mask.numpy(), ref_mask)
    raw_img, raw_mask = ds.load_raw(2)
    np.testing.assert_array_equal(raw_img, ref_img)
    np.testing.assert_array_equal(raw_mask, ref_mask)


def test_folder_random_split_and_split_files(folder, tmp_path):
    root, _ = folder
    train = create_dataset("folder", "train", root, cache=False, val_fraction=0.5)
    val = create_dataset("folder", "val", root, cache=False, val_fraction=0.5)
    assert len(train) == len(val) == 3 and set(train.ids).isdisjoint(val.ids)
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("s01\ns03\n")
    assert create_dataset("folder", "train", root, cache=False).ids == ["s01", "s03"]
    with pytest.raises(DataError, match=r"split 'val' has no file .*splits holds splits: train"):
        create_dataset("folder", "val", root, cache=False)
    (root / "splits" / "val.txt").write_text("s09\n")
    with pytest.raises(DataError, match="not in the dataset: s09"):
        create_dataset("folder", "val", root, cache=False)


def test_value_map_folder_with_explicit_spec(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:6] = 255
    write_image(tmp_path / "images" / "a.png", np.zeros((8, 8), np.uint8))
    write_image(tmp_path / "masks" / "a.png", mask)
    spec = DatasetSpec(
        "bin", ("bg", "fg"), mask_encoding="value_map", value_map={0: 0, 255: 1}, in_channels=1
    )
    ds = create_dataset("folder", "all", tmp_path, spec=spec, cache=False)
    image, m = ds[0]
    assert image.shape == (1, 8, 8)
    np.testing.assert_array_equal(m.numpy(), mask // 255)


def test_registry_errors():
    with pytest.raises(InputError, match="unknown dataset 'flder'; did you mean 'folder'"):
        create_dataset("flder")
    with pytest.raises(InputError, match="has no option 'sead'; did you mean 'seed'"):
        create_dataset("folder", "train", "/nowhere", sead=1)


def test_size_mismatch_names_both_files_and_shapes(tmp_path):
    write_image(tmp_path / "images" / "a.png", np.zeros((10, 12, 3), np.uint8))
    write_image(tmp_path / "masks" / "a.png", np.zeros((10, 11), np.uint8))
    ds = create_dataset("folder", "all", tmp_path, spec=SPEC, cache=False)
    with pytest.raises(DataError) as info:
        ds[0]
    msg = str(info.value)
    assert "a.png is 10x12" in msg and "is 10x11" in msg and "nearest-neighbour" in msg


def test_exif_rotated_image_mismatch_hints_at_exif(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "images" / "a.jpg", exif=exif.tobytes())
    write_image(tmp_path / "masks" / "a.png", np.zeros((12, 10), np.uint8))
    ds = create_dataset("folder", "all", tmp_path, spec=SPEC, cache=False)
    with pytest.raises(DataError, match="EXIF rotation"):
        ds.load_raw(0)


def test_bad_mask_value_and_corrupt_image_through_dataset(tmp_path):
    make_folder(tmp_path, n=2, ignore=None)
    bad = np.zeros((24, 32), np.uint8)
    bad[0, 0] = 9
    write_image(tmp_path / "masks" / "s01.png", bad)
    (tmp_path / "images" / "s00.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = create_dataset("folder", "all", tmp_path, spec=SPEC, cache=False)
    with pytest.raises(DataError, match=r"s01.png: values outside the classes 0..2 .*9: 1 px"):
        ds[1]
    with pytest.raises(DataError, match=r"cannot decode image .*s00.png"):
        ds[0]


def test_empty_folder_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match="is empty"):
        create_dataset("folder", "all", tmp_path, spec=SPEC)


def test_decode_cache_skips_decoding_and_tracks_changes(folder, tmp_path, monkeypatch):
    root, _ = folder
    cache_dir = tmp_path / "cache"
    ds = create_dataset("folder", "all", root, cache=cache_dir)
    calls = []
    real = SegmentationDataset._decode_mask

    def counting(self, path):
        calls.append(path.name)
        return real(self, path)

    monkeypatch.setattr(SegmentationDataset, "_decode_mask", counting)
    first = [ds.load_raw(i)[1] for i in range(len(ds))]
    assert len(calls) == 6
    second = [ds.load_raw(i)[1] for i in range(len(ds))]
    assert len(calls) == 6  # served from the cache
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    # a rewritten file (new size/mtime) is decoded again, and the new content is returned
    new = np.zeros((24, 32), np.uint8)
    target = ds.files[0].mask
    write_image(target, new)
    os.utime(target, ns=(1, 1))
    np.testing.assert_array_equal(ds.load_raw(0)[1], new)
    assert calls[-1] == target.name
    assert len(list(cache_dir.rglob("*.npy"))) == 13  # 6 images + 6 masks + 1 new mask


def test_cache_survives_a_damaged_entry(tmp_path):
    cache = DecodeCache(tmp_path / "c")
    src = tmp_path / "f.bin"
    src.write_bytes(b"x")
    cache.load(src, "t", lambda p: np.arange(4))
    cache.entry(src, "t").write_bytes(b"garbage")
    np.testing.assert_array_equal(cache.load(src, "t", lambda p: np.arange(4)), np.arange(4))


def test_augmentation_depends_only_on_seed_epoch_index(folder, tmp_path):
    root, _ = folder
    t = build_transforms("strong", SPEC, crop_size=(16, 16))
    ds = create_dataset("folder", "all", root, t, cache=tmp_path / "c", seed=5)
    a1, m1 = ds[(3, 2)]
    ds[(0, 0)]  # other samples in between do not shift the stream
    a2, m2 = ds[(3, 2)]
    assert torch.equal(a1, a2) and torch.equal(m1, m2)
    differs = [not torch.equal(ds[(3, e)][0], a1) for e in range(3, 8)]
    assert any(differs)
    ds.set_epoch(2)
    assert torch.equal(ds[3][0], a1)


def test_loader_batches_do_not_depend_on_worker_count(folder, tmp_path):
    root, _ = folder
    t = build_transforms("strong", SPEC, crop_size=(16, 16))
    ds = create_dataset("folder", "all", root, t, cache=tmp_path / "c", seed=1)

    def batches(workers):
        loader = build_loader(ds, 2, shuffle=True, num_workers=workers, seed=4)
        loader.sampler.set_epoch(3)
        return [(x.clone(), y.clone()) for x, y in loader]

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 3
    for (x0, y0), (x1, y1) in zip(serial, parallel, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_camvid_root_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("SEGWISE_CAMVID", raising=False)
    with pytest.raises(InputError, match="SEGWISE_CAMVID"):
        resolve_camvid_root(None)
    with pytest.raises(DataError, match="lacks train, trainannot"):
        resolve_camvid_root(tmp_path)


def test_camvid_splits(camvid_root, tmp_path):
    sizes = {s: len(create_dataset("camvid", s, camvid_root, cache=False)) for s in ("train", "val", "test")}
    assert sizes == {"train": 367, "val": 101, "test": 233}
    assert len(create_dataset("camvid", "trainval", camvid_root, cache=False)) == 468
    ds = create_dataset("camvid", "val", camvid_root, cache=tmp_path / "c")
    image, mask = ds[0]
    assert image.shape == (3, 360, 480) and mask.shape == (360, 480)
    ref = np.asarray(Image.open(camvid_root / "valannot" / f"{ds.ids[0]}.png"))
    np.testing.assert_array_equal(mask.numpy(), ref)
    assert ds.spec is CAMVID_SPEC
    with pytest.raises(InputError, match="did you mean 'test'"):
        create_dataset("camvid", "tset", camvid_root)
