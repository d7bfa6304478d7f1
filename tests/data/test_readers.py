"""Mask encodings (value map, rgb with unknown colours), image channel handling, EXIF, corrupt files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from segwise.data import DatasetSpec, apply_value_map, read_image, read_mask, read_spec_mask
from segwise.errors import DataError
from tests.data._synth import write_image

RGB_SPEC = DatasetSpec(
    "rgb",
    ("road", "car"),
    colors=((128, 64, 128), (64, 0, 128)),
    ignore_index=255,
    mask_encoding="rgb",
    ignore_color=(0, 0, 0),
)


def test_value_map_binary_masks(tmp_path):
    arr = np.array([[0, 255, 255], [0, 0, 255]], np.uint8)
    path = write_image(tmp_path / "m.png", arr)
    got = read_mask(path, value_map={0: 0, 255: 1})
    np.testing.assert_array_equal(got, (arr == 255).astype(np.uint8))
    spec = DatasetSpec("bin", ("bg", "fg"), mask_encoding="value_map", value_map={0: 0, 255: 1})
    np.testing.assert_array_equal(read_spec_mask(path, spec), arr // 255)


def test_value_map_lists_unmapped_values_with_counts(tmp_path):
    arr = np.array([[0, 255, 254], [1, 1, 255]], np.uint8)
    path = write_image(tmp_path / "m.png", arr)
    with pytest.raises(DataError) as info:
        read_mask(path, value_map={0: 0, 255: 1})
    msg = str(info.value)
    assert str(path) in msg and "1: 2 px" in msg and "254: 1 px" in msg and "Add them to the value map" in msg


def test_value_map_large_values_use_search_path():
    arr = np.array([[70000, 5]], np.int64)
    np.testing.assert_array_equal(apply_value_map(arr, {70000: 1, 5: 0}), [[1, 0]])


def test_rgb_unknown_colour_error_and_ignore_warning(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (128, 64, 128)
    rgb[0, 1] = (64, 0, 128)
    rgb[1, :] = (1, 2, 3)  # 3 px of an unknown colour; (0,0,0) elsewhere is the ignore colour
    path = write_image(tmp_path / "m.png", rgb)
    with pytest.raises(DataError) as info:
        read_spec_mask(path, RGB_SPEC)
    assert str(path) in str(info.value) and "(1,2,3): 3 px" in str(info.value)
    with pytest.warns(UserWarning, match=r"3 pixels.*\(1,2,3\): 3 px"):
        got = read_spec_mask(path, RGB_SPEC, unknown_colors="ignore")
    np.testing.assert_array_equal(got, [[0, 1, 255], [255, 255, 255]])


def test_encoding_mismatch_is_explained(tmp_path):
    gray = write_image(tmp_path / "g.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="single-channel image.*mask_encoding='index'"):
        read_spec_mask(gray, RGB_SPEC)
    rgb = write_image(tmp_path / "c.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(DataError, match="RGB image.*mask_encoding='rgb'"):
        read_spec_mask(rgb, DatasetSpec("x", ("a", "b")))


def test_out_of_range_mask_value_names_file_values_and_fix(tmp_path):
    arr = np.array([[0, 1, 7, 7, 255]], np.uint8)
    path = write_image(tmp_path / "m.png", arr)
    spec = DatasetSpec("x", ("a", "b"), ignore_index=255)
    with pytest.raises(DataError) as info:
        read_spec_mask(path, spec)
    msg = str(info.value)
    assert str(path) in msg and "7: 2 px" in msg and "0..1" in msg and "ignore index 255" in msg
    assert "set ignore_index" in msg


def test_palette_and_16_bit_masks(tmp_path):
    p = Image.fromarray(np.array([[0, 1], [255, 1]], np.uint8), mode="L").convert("P")
    p.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    p.save(tmp_path / "p.png")
    spec = DatasetSpec("voc", ("bg", "x"), ignore_index=255, mask_encoding="palette")
    np.testing.assert_array_equal(read_spec_mask(tmp_path / "p.png", spec), [[0, 1], [255, 1]])
    arr16 = np.array([[0, 300], [2, 65535]], np.uint16)
    Image.fromarray(arr16).save(tmp_path / "m16.png")
    spec16 = DatasetSpec("deep", tuple(str(i) for i in range(301)), ignore_index=65535)
    got = read_spec_mask(tmp_path / "m16.png", spec16)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, arr16.astype(np.int64))


def test_jpeg_masks_are_refused(tmp_path):
    path = tmp_path / "m.jpg"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(path)
    with pytest.raises(DataError, match="JPEG.*lossy"):
        read_mask(path)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".gif", ".bmp"])
def test_image_formats(tmp_path, ext):
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[:, :5] = (200, 10, 10)
    path = write_image(tmp_path / f"im{ext}", rgb)
    got = read_image(path, 3)
    assert got.shape == (8, 10, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - rgb)
    if ext in (".jpg", ".gif"):  # lossy / palette formats: close, not exact
        assert diff.mean() < 10
    else:
        assert diff.max() == 0


def test_channel_conversions_are_explicit(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((5, 6, 1), 7, np.uint8)], axis=2)
    gray = rgb[..., 0]
    p_rgb = write_image(tmp_path / "rgb.png", rgb)
    p_rgba = write_image(tmp_path / "rgba.png", rgba)
    p_gray = write_image(tmp_path / "gray.png", gray)
    # gray -> 3 channels: copied
    np.testing.assert_array_equal(read_image(p_gray, 3), np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(read_image(p_gray, 1)[..., 0], gray)
    # RGBA -> 3: alpha dropped (not composited); RGBA -> 4: kept
    np.testing.assert_array_equal(read_image(p_rgba, 3), rgb)
    np.testing.assert_array_equal(read_image(p_rgba, 4), rgba)
    # RGB -> 1: ITU-R 601 luma L = R*299/1000 + G*587/1000 + B*114/1000 (Pillow's integer rounding)
    rgb = rgb.astype(np.int64)
    luma = (rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114) / 1000
    assert np.abs(read_image(p_rgb, 1)[..., 0].astype(float) - luma).max() <= 1
    with pytest.raises(DataError, match="expects 4 channels"):
        read_image(p_rgb, 4)
    with pytest.raises(DataError, match="grayscale"):
        read_image(p_gray, 4)


def test_16_bit_gray_image_is_scaled(tmp_path):
    arr = np.array([[0, 257, 65535]], np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png", 1)[..., 0], [[0, 1, 255]])


def _with_exif_rotation(src: Image.Image, path, fmt: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    src.save(path, format=fmt, exif=exif.tobytes())


def test_exif_rotation_is_ignored_for_images_and_masks(tmp_path):
    img = np.zeros((4, 8, 3), np.uint8)
    img[:, :4] = 255
    _with_exif_rotation(Image.fromarray(img), tmp_path / "im.png", "PNG")
    mask = np.zeros((4, 8), np.uint8)
    mask[:, :4] = 1
    _with_exif_rotation(Image.fromarray(mask), tmp_path / "m.png", "PNG")
    assert Image.open(tmp_path / "m.png").getexif().get(0x0112) == 6
    np.testing.assert_array_equal(read_image(tmp_path / "im.png"), img)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_truncated_image_is_a_clear_error(tmp_path, ext):
    path = write_image(
        tmp_path / f"im{ext}", np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    )
    _truncate(path)
    with pytest.raises(DataError) as info:
        read_image(path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


def test_truncated_and_garbage_masks_are_clear_errors(tmp_path):
    path = write_image(tmp_path / "m.png", np.random.default_rng(0).integers(0, 3, (64, 64), np.uint8))
    _truncate(path)
    spec = DatasetSpec("x", ("a", "b", "c"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=f"{path}.*truncated"):
            read_spec_mask(path, spec)
    garbage = tmp_path / "g.png"
    garbage.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="g.png"):
        read_spec_mask(garbage, spec)
    with pytest.raises(DataError, match="g.png"):
        read_image(garbage)
