"""Tiles: grid windows cover every pixel once, random windows are seeded, tiles are decoded once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segwise.data import DatasetSpec, build_transforms, create_dataset
from segwise.data.base import SegmentationDataset
from segwise.data.tiles import grid_windows
from segwise.errors import InputError
from tests.data._synth import random_pair, write_image

SPEC = DatasetSpec("aerial", ("ground", "building", "tree"), ignore_index=255)


@pytest.fixture
def tiles(tmp_path):
    rng = np.random.default_rng(0)
    data = {}
    for stem, (h, w) in {"t0": (70, 90), "t1": (64, 64)}.items():
        image, mask = random_pair(rng, h, w, 3)
        write_image(tmp_path / "images" / f"{stem}.tif", image)
        write_image(tmp_path / "masks" / f"{stem}.png", mask)
        data[stem] = (image, mask)
    (tmp_path / "spec.json").write_text(SPEC.to_json())
    return tmp_path, data


def test_grid_windows_cover_each_pixel_once(tiles, tmp_path):
    root, data = tiles
    ds = create_dataset("tiles", "all", root, cache=tmp_path / "c", window=32)
    assert ds.mode == "grid"
    assert len(ds) == 3 * 3 + 2 * 2  # 70x90 -> 3x3 windows of 32 (edges padded); 64x64 -> 2x2
    rebuilt = {stem: np.full(data[stem][1].shape, 99, np.int64) for stem in data}
    for i in range(len(ds)):
        win = ds.windows[i]
        image, mask = ds.load_raw(i)
        assert image.shape == (32, 32, 3) and mask.shape == (32, 32)
        assert (mask[win.height :, :] == 255).all() and (mask[:, win.width :] == 255).all()
        target = rebuilt[ds.files[win.tile].id][win.y : win.y + win.height, win.x : win.x + win.width]
        assert (target == 99).all()  # never written twice
        target[:] = mask[: win.height, : win.width]
        np.testing.assert_array_equal(
            image[: win.height, : win.width],
            data[ds.files[win.tile].id][0][win.y : win.y + win.height, win.x : win.x + win.width],
        )
    for stem, (_, mask) in data.items():
        np.testing.assert_array_equal(rebuilt[stem], mask)
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y.dtype == torch.int64


def test_random_windows_are_seeded_and_tiles_decoded_once(tiles, tmp_path, monkeypatch):
    root, data = tiles
    decoded = []
    real = SegmentationDataset._decode_image

    def counting(self, path):
        decoded.append(path.name)
        return real(self, path)

    monkeypatch.setattr(SegmentationDataset, "_decode_image", counting)
    t = build_transforms(["hflip"], SPEC)
    ds = create_dataset(
        "tiles",
        "train",
        root,
        t,
        cache=tmp_path / "c",
        window=(20, 30),
        samples_per_tile=5,
        split_file=None,
        val_fraction=0.0,
    )
    assert ds.mode == "random" and len(ds) == 2 * 5
    for i in range(len(ds)):
        win = ds.window_at(i, epoch=0)
        h, w = data[ds.files[win.tile].id][1].shape
        assert 0 <= win.y <= h - 20 and 0 <= win.x <= w - 30
        _, mask = ds.load_raw(i, epoch=0)
        np.testing.assert_array_equal(
            mask, data[ds.files[win.tile].id][1][win.y : win.y + 20, win.x : win.x + 30]
        )
    assert sorted(decoded) == ["t0.tif", "t1.tif"]  # each tile decoded once, then windows from the cache
    assert ds.window_at(3, epoch=1) == ds.window_at(3, epoch=1)
    assert len({ds.window_at(3, epoch=e) for e in range(6)}) > 1
    a, b = ds[(4, 2)], ds[(4, 2)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_tiles_refuse_disabled_cache_and_unpaddable_windows(tiles, tmp_path):
    root, _ = tiles
    with pytest.raises(InputError, match="cache=False is not supported"):
        create_dataset("tiles", "all", root, cache=False)
    spec = DatasetSpec("aerial", ("ground", "building", "tree"))
    with pytest.raises(InputError, match="no ignore_index for the padding"):
        create_dataset("tiles", "all", root, spec=spec, cache=tmp_path / "c", window=32)
    ok = create_dataset("tiles", "all", root, spec=spec, cache=tmp_path / "c", window=(2, 2))
    assert len(ok) == 35 * 45 + 32 * 32


def test_grid_windows_reference():
    assert grid_windows(64, 64, (32, 32), (32, 32)) == [(0, 0), (0, 32), (32, 0), (32, 32)]
    assert grid_windows(10, 10, (32, 32), (32, 32)) == [(0, 0)]
    assert grid_windows(70, 32, (32, 32), (16, 32)) == [(0, 0), (16, 0), (32, 0), (48, 0)]


def test_class_stats_of_tiles_counts_whole_tiles(tiles):
    from segwise.data import class_stats

    root, data = tiles
    spec = DatasetSpec("aerial", ("ground", "building", "tree"))  # no ignore index: no grid padding needed
    stats = class_stats("tiles", "all", root, spec=spec)
    expected = sum(np.bincount(m.ravel(), minlength=3) for _, m in data.values())
    np.testing.assert_array_equal(stats.pixels, expected)
    assert stats.num_images == 2


def test_whole_mode_returns_unpadded_tiles(tiles, tmp_path):
    root, data = tiles
    ds = create_dataset("tiles", "all", root, cache=tmp_path / "c", mode="whole")
    assert len(ds) == 2
    for i in range(2):
        image, mask = ds.load_raw(i)
        np.testing.assert_array_equal(mask, data[ds.files[i].id][1])
        np.testing.assert_array_equal(image, data[ds.files[i].id][0])
