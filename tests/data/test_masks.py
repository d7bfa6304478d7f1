"""Reading ground-truth, predicted and ROI masks (GIF, PNG, TIFF; value maps; ROI), and ROI masks in
folder datasets. Expected values come from the raw files (PIL ``convert``) or the arrays written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segwise.data.folder import FolderDataset
from segwise.data.masks import mask_reader, roi_ignore_value
from segwise.data.readers import apply_roi, read_mask, read_roi, read_spec_mask, stored_values
from segwise.data.spec import DatasetSpec
from segwise.errors import DataError, InputError

VESSEL_SPEC = DatasetSpec(
    "retina",
    ("background", "vessel"),
    mask_encoding="value_map",
    value_map=((0, 0), (255, 1)),
    ignore_index=255,
)


def _save(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)).save(path)
    return path


def _binary(seed: int = 0, shape: tuple[int, int] = (12, 16)) -> np.ndarray:
    """A 0/255 uint8 mask with both values."""
    arr = np.where(np.random.default_rng(seed).random(shape) < 0.3, 255, 0).astype(np.uint8)
    arr[0, 0], arr[0, 1] = 0, 255
    return arr


def _disc(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= (min(h, w) / 2 - 1) ** 2


def _l(path: Path) -> np.ndarray:
    """The gray levels of a file, independently of segwise."""
    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


# -- GIF: always a palette image -------------------------------------------------------------------


def test_a_0_255_gif_is_stored_as_palette_indices_0_1(tmp_path):
    arr = _binary()
    gif = _save(tmp_path / "21_manual1.gif", arr)
    with Image.open(gif) as img:  # what PIL writes: indices 0/1, gray palette
        assert img.mode == "P" and sorted(np.unique(np.asarray(img)).tolist()) == [0, 1]
    np.testing.assert_array_equal(_l(gif), arr)
    np.testing.assert_array_equal(stored_values(gif), arr)


def test_gif_0_255_with_value_map_gives_classes_0_1(tmp_path):
    arr = _binary()
    gif = _save(tmp_path / "a.gif", arr)
    want = (_l(gif) > 0).astype(np.uint8)
    got = mask_reader(value_map="0:0,255:1").read_target(gif)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(read_spec_mask(gif, VESSEL_SPEC), want)
    np.testing.assert_array_equal(read_mask(gif, value_map={0: 0, 255: 1}), want)


def test_gif_of_one_gray_level_with_value_map(tmp_path):
    """PIL writes an all-255 mask as index 0 with palette entry 255: the gray level counts, not the index."""
    for value, cls in ((255, 1), (0, 0)):
        gif = _save(tmp_path / f"{value}.gif", np.full((5, 7), value, np.uint8))
        np.testing.assert_array_equal(
            mask_reader(value_map="0:0,255:1").read_target(gif), np.full((5, 7), cls)
        )


def test_gif_0_255_read_as_class_ids_gives_0_1(tmp_path):
    arr = _binary(1)
    gif = _save(tmp_path / "a.gif", arr)
    got = mask_reader(num_classes=2).read_target(gif)
    np.testing.assert_array_equal(got, (_l(gif) > 0).astype(np.uint8))
    index_spec = DatasetSpec("x", ("bg", "fg"))
    np.testing.assert_array_equal(read_spec_mask(gif, index_spec), (arr > 0).astype(np.uint8))


def test_gif_of_class_ids_keeps_them_when_a_class_is_missing(tmp_path):
    """Class ids 0 and 2 (no 1) written as GIF: PIL renumbers the palette (indices 0/1), the ids are the grays."""
    arr = np.zeros((6, 8), np.uint8)
    arr[:3] = 2
    gif = _save(tmp_path / "a.gif", arr)
    with Image.open(gif) as img:
        assert sorted(np.unique(np.asarray(img)).tolist()) == [0, 1]  # the trap: indices are not the ids
    spec = DatasetSpec("x", ("a", "b", "c"))
    np.testing.assert_array_equal(read_spec_mask(gif, spec), _l(gif))
    np.testing.assert_array_equal(mask_reader(num_classes=3).read_target(gif), _l(gif))
    ones = _save(tmp_path / "ones.gif", np.ones((4, 4), np.uint8))  # one class, stored as index 0
    np.testing.assert_array_equal(mask_reader(num_classes=2).read_target(ones), np.ones((4, 4)))


def test_gif_of_class_ids_with_void_255(tmp_path):
    arr = np.array([[0, 1, 255], [1, 0, 255]], np.uint8)
    gif = _save(tmp_path / "a.gif", arr)
    got = mask_reader(num_classes=2, ignore_index=255).read_target(gif)
    np.testing.assert_array_equal(got, _l(gif))


# -- PNG and TIFF -----------------------------------------------------------------------------------


def test_png_0_255_as_two_classes_without_map_says_which_map(tmp_path):
    png = _save(tmp_path / "a.png", _binary(2))
    for read in (
        mask_reader(num_classes=2).read_target,
        lambda p: read_spec_mask(p, DatasetSpec("x", ("a", "b"))),
    ):
        with pytest.raises(DataError) as err:
            read(png)
        msg = str(err.value)
        assert "255" in msg and "--value-map 0:0,255:1" in msg and "a.png" in msg


def test_png_0_255_with_value_map(tmp_path):
    png = _save(tmp_path / "a.png", _binary(3))
    np.testing.assert_array_equal(mask_reader(value_map="0:0,255:1").read_target(png), _l(png) > 0)


def test_value_not_in_the_map_is_listed(tmp_path):
    arr = _binary(4)
    arr[1, :3] = 128
    png = _save(tmp_path / "a.png", arr)
    with pytest.raises(DataError, match=r"128: 3 px"):
        mask_reader(value_map="0:0,255:1").read_target(png)


def test_tiff_masks(tmp_path):
    ids = np.random.default_rng(5).integers(0, 3, (10, 14)).astype(np.uint8)
    tif = _save(tmp_path / "ids.tif", ids)
    np.testing.assert_array_equal(mask_reader(num_classes=3).read_target(tif), _l(tif))
    np.testing.assert_array_equal(read_spec_mask(tif, DatasetSpec("x", ("a", "b", "c"))), ids)
    b = _save(tmp_path / "b.tiff", _binary(6))
    np.testing.assert_array_equal(mask_reader(value_map="0:0,255:1").read_target(b), _l(b) > 0)
    with pytest.raises(DataError, match="--value-map 0:0,255:1"):
        mask_reader(num_classes=2).read_target(b)


def test_predictions_with_pred_value_map(tmp_path):
    png = _save(tmp_path / "p.png", _binary(7))
    gif = _save(tmp_path / "p.gif", _binary(7))
    reader = mask_reader(value_map="0:0,255:1", pred_value_map="0:0,255:1")
    for path in (png, gif):
        np.testing.assert_array_equal(reader.read_prediction(path), _l(path) > 0)
    ids = _save(tmp_path / "ids.png", (_binary(7) > 0).astype(np.uint8))
    np.testing.assert_array_equal(mask_reader(value_map="0:0,255:1").read_prediction(ids), _l(ids))


# -- ROI masks --------------------------------------------------------------------------------------


def test_read_roi_of_gif_png_and_rgb(tmp_path):
    disc = _disc(12, 16)
    gray = np.where(disc, 255, 0).astype(np.uint8)
    for path in (_save(tmp_path / "fov.gif", gray), _save(tmp_path / "fov.png", gray)):
        np.testing.assert_array_equal(read_roi(path), _l(path) > 0)
        np.testing.assert_array_equal(read_roi(path), disc)
    np.testing.assert_array_equal(read_roi(_save(tmp_path / "ones.png", disc.astype(np.uint8))), disc)
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[disc] = (255, 0, 0)
    rgb[0, 0] = (0, 0, 1)
    want = disc.copy()
    want[0, 0] = True
    np.testing.assert_array_equal(read_roi(_save(tmp_path / "rgb.png", rgb)), want)


def test_read_roi_of_a_full_gif_and_a_colour_palette(tmp_path):
    full = _save(tmp_path / "full.gif", np.full((5, 6), 255, np.uint8))  # stored as index 0
    assert read_roi(full).all()
    idx = np.array([[0, 1], [1, 0]], np.uint8)
    img = Image.fromarray(idx, mode="P")
    img.putpalette([255, 0, 0, 0, 0, 0])  # index 0 is red (inside), index 1 black (outside)
    img.save(tmp_path / "pal.png")
    np.testing.assert_array_equal(read_roi(tmp_path / "pal.png"), idx == 0)


def test_apply_roi():
    mask = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    roi = np.array([[True, False, True], [False, True, True]])
    got = apply_roi(mask, roi, 255)
    np.testing.assert_array_equal(got, np.where(roi, mask, 255))
    assert got.dtype == np.uint8 and mask[0, 1] == 1  # a copy
    wide = apply_roi(mask, roi, 300)
    np.testing.assert_array_equal(wide, np.where(roi, mask.astype(np.int64), 300))
    with pytest.raises(DataError, match="3x2 .*2x1|2x1 .*3x2"):
        apply_roi(mask, roi[:1, :2], 255, source="gt.png")


def test_roi_ignore_value():
    assert roi_ignore_value(2, None) == 255 and roi_ignore_value(12, 11) == 11
    assert roi_ignore_value(256, None) == 256


# -- mask_reader options ----------------------------------------------------------------------------


def test_mask_reader_classes_from_a_value_map_and_conflicts(tmp_path):
    assert mask_reader(value_map="0:0,255:1").num_classes == 2
    r = mask_reader(value_map="0:0,128:1,200:2,255:255", ignore_index=255)
    assert r.num_classes == 3 and r.ignore_index == 255
    with pytest.raises(InputError, match="--num-classes is needed"):
        mask_reader()
    spec = tmp_path / "spec.json"
    spec.write_text(VESSEL_SPEC.to_json())
    assert mask_reader(spec=spec).spec == VESSEL_SPEC
    assert mask_reader(spec=spec, num_classes=2).num_classes == 2
    with pytest.raises(InputError, match="--num-classes 3 disagrees"):
        mask_reader(spec=spec, num_classes=3)
    with pytest.raises(InputError, match="--ignore-index 0 disagrees"):
        mask_reader(spec=spec, ignore_index=0)
    replaced = mask_reader(spec=spec, value_map="0:0,1:1").spec
    assert replaced.value_map == ((0, 0), (1, 1)) and replaced.class_names == VESSEL_SPEC.class_names
    with pytest.raises(InputError, match="not STORED:CLASS"):
        mask_reader(value_map="0=0")


# -- ROI masks in folder datasets ---------------------------------------------------------------------


def _retina_folder(root: Path, n: int = 5, h: int = 16, w: int = 20) -> None:
    rng = np.random.default_rng(0)
    fov = np.where(_disc(h, w), 255, 0).astype(np.uint8)
    for i in range(21, 21 + n):
        _save(root / "images" / f"{i}_training.tif", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        gt = _binary(i, (h, w))
        gt[0, :] = 255  # vessel pixels outside the field of view: left out
        _save(root / "masks" / f"{i}_manual1.gif", gt)
        _save(root / "fov" / f"{i}_training_mask.gif", fov)


def test_folder_dataset_roi_and_match(tmp_path):
    _retina_folder(tmp_path)
    ds = FolderDataset(tmp_path, "train", spec=VESSEL_SPEC, roi="fov", match=r"^(\d+)_", cache=False)
    assert len(ds) == 4 and all(f.roi is not None for f in ds.files)
    for i, f in enumerate(ds.files):
        assert f.mask.name == f"{f.id}_manual1.gif" and f.roi.name == f"{f.id}_training_mask.gif"
        want = np.where(_l(f.roi) > 0, (_l(f.mask) > 0).astype(np.uint8), 255)
        image, mask = ds.load_raw(i)
        np.testing.assert_array_equal(mask, want)
        with Image.open(f.image) as img:
            np.testing.assert_array_equal(image, np.asarray(img.convert("RGB")))
        np.testing.assert_array_equal(ds[i][1].numpy(), want)
        assert (mask[0] == 255).all() and (mask == 1).any()


def test_folder_dataset_roi_through_a_pair_list(tmp_path):
    _retina_folder(tmp_path, n=3)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "val.txt").write_text(
        "images/22_training.tif masks/22_manual1.gif fov/22_training_mask.gif\n"
    )
    ds = FolderDataset(tmp_path, "val", spec=VESSEL_SPEC, cache=False)
    (f,) = ds.files
    want = np.where(_l(f.roi) > 0, (_l(f.mask) > 0).astype(np.uint8), 255)
    np.testing.assert_array_equal(ds.load_raw(0)[1], want)


def test_folder_dataset_split_file_of_image_stems_with_match(tmp_path):
    _retina_folder(tmp_path, n=4)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "val.txt").write_text("23_training\n21_training\n")
    ds = FolderDataset(tmp_path, "val", spec=VESSEL_SPEC, roi="fov", match=r"^(\d+)_", cache=False)
    assert [f.id for f in ds.files] == ["23", "21"]


def test_folder_dataset_roi_needs_an_ignore_index(tmp_path):
    _retina_folder(tmp_path, n=3)
    spec = VESSEL_SPEC.replace(ignore_index=None)
    with pytest.raises(InputError, match="ignore_index") as err:
        FolderDataset(tmp_path, "all", spec=spec, roi="fov", match=r"^(\d+)_", cache=False)
    assert '"ignore_index": 255' in str(err.value) and "region-of-interest" in str(err.value)
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    with pytest.raises(InputError, match='add "ignore_index"'):
        FolderDataset(tmp_path, "all", roi="fov", match=r"^(\d+)_", cache=False)
