"""``segwise data init``: scan_folder's checks and inferences, the CLI's files and the starter config.

Every dataset is a few tiny images written with PIL into tmp_path. Expected specs are written out
by hand from how the masks were stored; mean/std are re-stated with numpy over all image pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

import segwise.cli as cli
from segwise.cli import main
from segwise.data.files import random_split
from segwise.data.scan import scan_folder
from segwise.data.spec import default_colors, load_spec
from segwise.errors import DataError, InputError
from segwise.train.config import load_config
from segwise.train.starter import starter_config

VOC_PALETTE = [c for color in default_colors(256) for c in color]
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


# ----------------------------------------------------------------------------------------------
# helpers


def _save(path: Path, arr: np.ndarray, *, palette: Sequence[int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    if palette is not None:
        img = Image.fromarray(arr, mode="P")
        img.putpalette(list(palette))
    img.save(path)
    return path


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _images(rng: np.random.Generator, h: int, w: int, gray: bool = False) -> np.ndarray:
    shape = (h, w) if gray else (h, w, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _folder(
    root: Path,
    masks: Sequence[np.ndarray],
    *,
    mask_ext: str = ".png",
    palette: Sequence[int] | None = None,
    gray: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """root/images/sNN.png (random, the masks' size) and root/masks/sNN{mask_ext}; returns the images."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, mask in enumerate(masks):
        stem = f"s{i:02d}"
        out[stem] = _images(rng, *mask.shape[:2], gray=gray)
        _save(root / "images" / f"{stem}.png", out[stem])
        _save(root / "masks" / f"{stem}{mask_ext}", mask, palette=palette)
    return out


def _blocks(values: Sequence[int], h: int = 16, w: int = 16, shift: int = 0) -> np.ndarray:
    """A mask of horizontal bands, one per value (every value present)."""
    out = np.zeros((h, w), np.uint8)
    for k, band in enumerate(np.array_split(np.arange(h), len(values))):
        out[band] = values[(k + shift) % len(values)]
    return out


def _rgb_blocks(
    colors: Sequence[tuple[int, int, int]], h: int = 16, w: int = 16, shift: int = 0
) -> np.ndarray:
    ids = _blocks(list(range(len(colors))), h, w, shift)
    return np.array(colors, np.uint8)[ids]


@pytest.fixture
def wide_console(monkeypatch) -> None:
    """The CLI's console without line wrapping, so paths and commands stay on one line."""
    monkeypatch.setattr(cli.data, "console", Console(width=400, soft_wrap=True))


def _cli(capsys, argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _init_args(root: Path, kwargs: dict[str, Any]) -> list[str]:
    """The `segwise data init` argv equal to scan_folder(root, **kwargs)."""
    argv = ["data", "init", str(root)]
    for key, value in kwargs.items():
        if key == "value_map":
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


# ----------------------------------------------------------------------------------------------
# 1. encoding detection: each case builds a folder and says what spec it expects


def _binary_png(root: Path) -> tuple[dict, dict]:
    masks = [_blocks([0, 255], shift=i) for i in range(3)]
    _folder(root, masks)
    expected = {
        "mask_encoding": "value_map",
        "value_map": [[0, 0], [255, 1]],
        "class_names": ["background", "foreground"],
        "ignore_index": 255,
    }
    return {}, expected


def _binary_gif(root: Path) -> tuple[dict, dict]:
    masks = [_blocks([0, 255], shift=i) for i in range(3)]
    _folder(root, masks, mask_ext=".gif")
    expected = {
        "mask_encoding": "value_map",
        "value_map": [[0, 0], [255, 1]],
        "class_names": ["background", "foreground"],
    }
    return {}, expected


def _class_ids(root: Path) -> tuple[dict, dict]:
    _folder(root, [_blocks([0, 1, 2, 3], shift=i) for i in range(3)])
    return {}, {
        "mask_encoding": "index",
        "class_names": [f"class_{i}" for i in range(4)],
        "ignore_index": 255,
    }


def _ids_with_void(root: Path) -> tuple[dict, dict]:
    _folder(root, [_blocks([0, 1, 2, 255], shift=i) for i in range(3)])
    return {}, {
        "mask_encoding": "index",
        "class_names": ["class_0", "class_1", "class_2"],
        "ignore_index": 255,
    }


def _sparse_values(root: Path) -> tuple[dict, dict]:
    _folder(root, [_blocks([200, 0, 100], shift=i) for i in range(3)])
    expected = {
        "mask_encoding": "value_map",
        "value_map": [[0, 0], [100, 1], [200, 2]],
        "class_names": ["class_0", "class_1", "class_2"],
    }
    return {}, expected


def _voc_palette(root: Path) -> tuple[dict, dict]:
    _folder(root, [_blocks([0, 1, 2], shift=i) for i in range(3)], palette=VOC_PALETTE)
    expected = {
        "mask_encoding": "palette",
        "class_names": ["class_0", "class_1", "class_2"],
        "colors": [[0, 0, 0], [128, 0, 0], [0, 128, 0]],
    }
    return {}, expected


def _voc_palette_with_empty_mask(root: Path) -> tuple[dict, dict]:
    # a mask of background only uses only black, a gray colour: still a palette dataset
    masks = [_blocks([0, 1, 2]), _blocks([0, 2, 1]), np.zeros((16, 16), np.uint8)]
    _folder(root, masks, palette=VOC_PALETTE)
    expected = {
        "mask_encoding": "palette",
        "class_names": ["class_0", "class_1", "class_2"],
        "colors": [[0, 0, 0], [128, 0, 0], [0, 128, 0]],
    }
    return {}, expected


def _rgb_colors(root: Path) -> tuple[dict, dict]:
    _folder(root, [_rgb_blocks([(0, 0, 0), RED, BLUE], shift=i) for i in range(3)])
    # one class per colour in packed order (black first: the background)
    expected = {
        "mask_encoding": "rgb",
        "class_names": ["background", "#0000ff", "#ff0000"],
        "colors": [[0, 0, 0], list(BLUE), list(RED)],
    }
    return {}, expected


def _rgb_with_table(root: Path) -> tuple[dict, dict]:
    _folder(root, [_rgb_blocks([(0, 0, 0), RED, BLUE], shift=i) for i in range(3)])
    table = root / "classes.csv"
    table.write_text("id,name,r,g,b\n0,sky,0,0,0\n1,road,255,0,0\n2,car,0,0,255\n")
    expected = {
        "mask_encoding": "rgb",
        "class_names": ["sky", "road", "car"],
        "colors": [[0, 0, 0], list(RED), list(BLUE)],
    }
    return {"classes": table}, expected


def _gray_images(root: Path) -> tuple[dict, dict]:
    _folder(root, [_blocks([0, 1], shift=i) for i in range(3)], gray=True)
    return {}, {"in_channels": 1, "class_names": ["background", "foreground"], "mask_encoding": "index"}


ENCODINGS: dict[str, Callable[[Path], tuple[dict, dict]]] = {
    "binary-0-255-png": _binary_png,
    "binary-0-255-gif": _binary_gif,
    "class-ids": _class_ids,
    "ids-with-void-255": _ids_with_void,
    "sparse-values": _sparse_values,
    "voc-palette": _voc_palette,
    "voc-palette-empty-mask": _voc_palette_with_empty_mask,
    "rgb-colors": _rgb_colors,
    "rgb-class-table": _rgb_with_table,
    "gray-images": _gray_images,
}


def _check_spec(spec_dict: dict, expected: dict) -> None:
    for key, want in expected.items():
        assert spec_dict[key] == want, (key, spec_dict)


@pytest.mark.parametrize("case", ENCODINGS, ids=str)
def test_scan_folder_infers_the_encoding(tmp_path, case):
    kwargs, expected = ENCODINGS[case](tmp_path)
    scan = scan_folder(tmp_path, workers=2, **kwargs)
    _check_spec(scan.spec.to_dict(), expected)
    assert len(scan.samples) == 3
    assert scan.class_pixels.sum() > 0 and (scan.class_images > 0).all()  # every class was counted


@pytest.mark.parametrize("case", ENCODINGS, ids=str)
def test_cli_writes_the_inferred_spec(tmp_path, capsys, wide_console, case):
    kwargs, expected = ENCODINGS[case](tmp_path)
    rc, out = _cli(capsys, _init_args(tmp_path, kwargs))
    assert rc == 0, out
    _check_spec(load_spec(tmp_path / "spec.json", tmp_path).to_dict(), expected)


def test_binary_masks_count_pixels_per_class(tmp_path):
    mask = np.zeros((20, 20), np.uint8)
    mask[:5] = 255  # 25% foreground in every mask
    _folder(tmp_path, [mask] * 4)
    scan = scan_folder(tmp_path)
    assert scan.class_pixels.tolist() == [4 * 300, 4 * 100]
    assert scan.class_images.tolist() == [4, 4]
    np.testing.assert_allclose(scan.shares, [0.75, 0.25])
    assert scan.imbalance == pytest.approx(3.0)


def test_ids_with_void_count_no_void_pixels(tmp_path):
    _folder(tmp_path, [_blocks([0, 1, 2, 255], h=8)] * 2)  # 2 rows per value
    scan = scan_folder(tmp_path)
    assert scan.class_pixels.tolist() == [2 * 32, 2 * 32, 2 * 32]
    assert any("255" in note and "void" in note for note in scan.notes)


def test_rgb_colour_missing_from_the_class_table_is_a_problem(tmp_path):
    masks = [_rgb_blocks([(0, 0, 0), RED]), _rgb_blocks([(0, 0, 0), GREEN]), _rgb_blocks([RED, (0, 0, 0)])]
    _folder(tmp_path, masks)
    table = tmp_path / "classes.csv"
    table.write_text("id,name,r,g,b\n0,sky,0,0,0\n1,road,255,0,0\n")
    with pytest.raises(DataError) as info:
        scan_folder(tmp_path, classes=table)
    msg = str(info.value)
    assert "s01.png" in msg and "(0,255,0)" in msg and "class table" in msg
    assert "s00.png" not in msg and "s02.png" not in msg


def test_class_table_void_row_is_the_ignore_colour(tmp_path, capsys, wide_console):
    masks = [_rgb_blocks([(0, 0, 0), RED, (255, 255, 255)], shift=i) for i in range(3)]
    _folder(tmp_path, masks)
    table = tmp_path / "classes.csv"
    table.write_text("id,name,r,g,b\n0,sky,0,0,0\n1,road,255,0,0\n255,void,255,255,255\n")
    scan = scan_folder(tmp_path, classes=table, ignore_index=255)
    assert scan.spec.class_names == ("sky", "road") and scan.spec.ignore_color == (255, 255, 255)
    assert scan.class_pixels.sum() == sum((m != 255).any(-1).sum() for m in masks)  # void not counted
    # without --ignore-index the void row is a gap in the ids: a usage error, not a crash
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--classes", str(table)])
    assert rc == 2 and "Traceback" not in out
    assert "[0, 1, 255]" in out and "ignore" in out
    assert not (tmp_path / "spec.json").exists()


def test_class_table_ids_with_a_gap_are_refused(tmp_path):
    _folder(tmp_path, [_rgb_blocks([(0, 0, 0), RED, BLUE], shift=i) for i in range(3)])
    table = tmp_path / "classes.csv"
    table.write_text("id,name,r,g,b\n0,sky,0,0,0\n1,road,255,0,0\n3,car,0,0,255\n")
    with pytest.raises(InputError, match=r"0\.\.C-1.*\[0, 1, 3\]"):
        scan_folder(tmp_path, classes=table)


def test_value_outside_the_value_map_is_a_problem_naming_file_and_value(tmp_path, capsys):
    masks = [_blocks([0, 255]), _blocks([0, 128, 255]), _blocks([255, 0])]
    _folder(tmp_path, masks)
    with pytest.raises(DataError) as info:
        scan_folder(tmp_path, value_map={0: 0, 255: 1})
    msg = str(info.value)
    assert str(tmp_path / "masks" / "s01.png") in msg and "128" in msg
    assert "s00.png" not in msg and "s02.png" not in msg
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--value-map", "0:0,255:1"])
    assert rc == 2 and "s01.png" in out and "128" in out and "Traceback" not in out
    assert not (tmp_path / "spec.json").exists()


@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
def test_mean_and_std_over_all_image_pixels(tmp_path, gray):
    masks = [_blocks([0, 1], h=h, w=w) for h, w in [(16, 16), (24, 20), (12, 30)]]
    images = _folder(tmp_path, masks, gray=gray, seed=3)
    channels = 1 if gray else 3
    pixels = np.concatenate([im.reshape(-1, channels) for im in images.values()]).astype(np.float64) / 255
    spec = scan_folder(tmp_path).spec
    assert spec.in_channels == channels
    np.testing.assert_allclose(spec.mean, pixels.mean(0), atol=1e-3)
    np.testing.assert_allclose(spec.std, pixels.std(0), atol=1e-3)


# ----------------------------------------------------------------------------------------------
# 2. every problem at once, nothing written


def _broken_folder(root: Path) -> dict[str, Path]:
    """Six samples with an ROI folder: one clean, five each with one problem. Returns {problem: file}."""
    rng = np.random.default_rng(0)
    for stem in "abcdef":
        _save(root / "images" / f"{stem}.png", _images(rng, 16, 16))
        _save(root / "masks" / f"{stem}.png", _blocks([0, 255]))
        _save(root / "roi" / f"{stem}.png", np.full((16, 16), 255, np.uint8))
    bad = {
        "truncated image": root / "images" / "b.png",
        "truncated mask": root / "masks" / "c.png",
        "mask size": root / "masks" / "d.png",
        "roi size": root / "roi" / "e.png",
        "mask value": root / "masks" / "f.png",
    }
    _truncate(bad["truncated image"])
    _truncate(bad["truncated mask"])
    _save(bad["mask size"], _blocks([0, 255], h=12, w=16))
    _save(root / "roi" / "d.png", np.full((12, 16), 255, np.uint8))  # d's ROI matches its mask
    _save(bad["roi size"], np.full((16, 8), 255, np.uint8))
    _save(bad["mask value"], _blocks([0, 7, 255]))
    return bad


def test_every_problem_is_reported_in_one_error(tmp_path):
    bad = _broken_folder(tmp_path)
    with pytest.raises(DataError) as info:
        scan_folder(tmp_path, roi="roi", value_map={0: 0, 255: 1})
    msg = str(info.value)
    assert msg.startswith("5 problems in"), msg
    for what, path in bad.items():
        assert str(path) in msg, what
    assert "a.png" not in msg  # the clean sample is not named
    assert "7: " in msg  # the unexpected value, with its pixel count


def test_cli_reports_every_problem_and_writes_nothing(tmp_path, capsys, wide_console):
    bad = _broken_folder(tmp_path)
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--roi", "roi", "--value-map", "0:0,255:1"])
    assert rc == 2
    assert "Traceback" not in out
    assert out.count("error:") == 1
    for what, path in bad.items():
        assert str(path) in out, what
    assert not (tmp_path / "spec.json").exists()
    assert not (tmp_path / "train.toml").exists()


# ----------------------------------------------------------------------------------------------
# 3. pairing


def _drive_like(root: Path, keys: Sequence[int] = (21, 22, 23), size: tuple[int, int] = (20, 24)) -> None:
    """DRIVE's names: images/21_training.tif, masks/21_manual1.gif, roi/21_training_mask.gif."""
    rng = np.random.default_rng(1)
    h, w = size
    for i, key in enumerate(keys):
        _save(root / "images" / f"{key}_training.tif", _images(rng, h, w))
        vessels = np.zeros((h, w), np.uint8)
        vessels[:, i % w :: 5] = 255
        _save(root / "masks" / f"{key}_manual1.gif", vessels)
        fov = np.zeros((h, w), np.uint8)
        fov[1:-1, 1:-1] = 255
        _save(root / "roi" / f"{key}_training_mask.gif", fov)


MATCH = r"^(\d+)_"


def test_match_pairs_drive_names(tmp_path):
    _drive_like(tmp_path)
    scan = scan_folder(tmp_path, roi="roi", match=MATCH)
    assert [s.id for s in scan.samples] == ["21", "22", "23"]
    first = scan.samples[0]
    assert (first.image.name, first.mask.name, first.roi.name) == (
        "21_training.tif",
        "21_manual1.gif",
        "21_training_mask.gif",
    )
    assert scan.spec.mask_encoding == "value_map" and scan.spec.num_classes == 2
    # pixels outside the ROI are not counted: a 1 px border of 20x24 images
    assert scan.class_pixels.sum() == 3 * 18 * 22


def test_unpaired_files_are_listed(tmp_path, capsys, wide_console):
    _drive_like(tmp_path)
    _save(tmp_path / "images" / "24_training.tif", np.zeros((20, 24, 3), np.uint8))
    _save(tmp_path / "masks" / "25_manual1.gif", np.zeros((20, 24), np.uint8))
    with pytest.raises(DataError) as info:
        scan_folder(tmp_path, roi="roi", match=MATCH)
    msg = str(info.value)
    assert "24_training.tif" in msg and "25_manual1.gif" in msg
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--roi", "roi", "--match", MATCH])
    assert rc == 2 and "24_training.tif" in out and "25_manual1.gif" in out and "Traceback" not in out


def test_a_file_not_matching_the_regex_is_an_error(tmp_path, capsys, wide_console):
    _drive_like(tmp_path)
    _save(tmp_path / "images" / "training_extra.tif", np.zeros((20, 24, 3), np.uint8))
    with pytest.raises(DataError) as info:
        scan_folder(tmp_path, roi="roi", match=MATCH)
    assert "training_extra.tif" in str(info.value) and "do not match" in str(info.value)
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--roi", "roi", "--match", MATCH])
    assert rc == 2 and "training_extra.tif" in out and "Traceback" not in out


def test_without_match_stems_do_not_pair(tmp_path):
    _drive_like(tmp_path)
    with pytest.raises(DataError, match="--match"):
        scan_folder(tmp_path, roi="roi")


# ----------------------------------------------------------------------------------------------
# 4. the CLI's files and output


def test_cli_writes_spec_and_config_and_refuses_to_overwrite(tmp_path, capsys, wide_console):
    _folder(tmp_path, [_blocks([0, 1, 2], shift=i) for i in range(5)])
    rc, out = _cli(capsys, ["data", "init", str(tmp_path)])
    assert rc == 0, out
    spec = load_spec(tmp_path / "spec.json", tmp_path)
    assert spec.class_names == ("class_0", "class_1", "class_2") and spec.mask_encoding == "index"
    cfg = load_config(tmp_path / "train.toml")
    assert cfg.data.dataset == "folder" and Path(cfg.data.root) == tmp_path.resolve()
    # the class table and the next command
    assert "3 classes" in out and "stored as" in out and "pixel share" in out
    for name in spec.class_names:
        assert name in out
    assert f"segwise train --config {tmp_path / 'train.toml'}" in out

    written = {p: p.read_text() for p in (tmp_path / "spec.json", tmp_path / "train.toml")}
    rc, out = _cli(capsys, ["data", "init", str(tmp_path)])
    assert rc == 2 and "Traceback" not in out
    assert str(tmp_path / "spec.json") in out and str(tmp_path / "train.toml") in out and "--force" in out
    assert {p: p.read_text() for p in written} == written

    (tmp_path / "train.toml").write_text("# edited\n")
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--force"])
    assert rc == 0, out
    assert {p: p.read_text() for p in written} == written  # rewritten as before


def test_cli_refuses_when_only_one_file_exists(tmp_path, capsys, wide_console):
    _folder(tmp_path, [_blocks([0, 1], shift=i) for i in range(3)])
    (tmp_path / "train.toml").write_text("# mine\n")
    rc, out = _cli(capsys, ["data", "init", str(tmp_path)])
    assert rc == 2 and str(tmp_path / "train.toml") in out
    assert not (tmp_path / "spec.json").exists()
    assert (tmp_path / "train.toml").read_text() == "# mine\n"


def test_cli_names_a_missing_subfolder(tmp_path, capsys, wide_console):
    _folder(tmp_path, [_blocks([0, 1], shift=i) for i in range(3)])
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--masks", "labels"])
    assert rc == 2 and "--masks 'labels'" in out and "images, masks" in out


# ----------------------------------------------------------------------------------------------
# 5. the starter config


def _sized_folder(root: Path, sizes: Sequence[tuple[int, int]]) -> Any:
    _folder(root, [_blocks([0, 1, 2], h=h, w=w) for h, w in sizes])
    return scan_folder(root)


@pytest.mark.parametrize(
    ("sizes", "side"),
    [
        ([(300, 400), (280, 500)], 256),  # capped at 256
        ([(100, 150), (90, 120)], 64),  # the smallest side, down to a multiple of 32
        ([(200, 130), (160, 160)], 128),
        ([(40, 60), (64, 64)], 40),  # below 64: the smallest image's own side
    ],
)
def test_starter_crop_fits_the_smallest_image(tmp_path, sizes, side):
    cfg = starter_config(_sized_folder(tmp_path, sizes))
    assert cfg.data.crop_size == [side, side]


def test_starter_roi_and_match_reach_the_dataset_options(tmp_path):
    _drive_like(tmp_path)
    cfg = starter_config(scan_folder(tmp_path, roi="roi", match=MATCH))
    assert cfg.data.options["roi"] == "roi"
    assert cfg.data.options["match"] == MATCH
    assert cfg.data.options["images"] == "images" and cfg.data.options["masks"] == "masks"


def test_starter_imbalanced_binary_gets_dice_and_weights(tmp_path):
    mask = np.zeros((20, 20), np.uint8)
    mask[:2, :10] = 255  # 5% foreground
    _folder(tmp_path, [mask] * 6)
    cfg = starter_config(scan_folder(tmp_path))
    assert cfg.loss.name == "ce+dice"
    assert cfg.data.class_weights == "median_frequency" and cfg.data.class_weights_power == 0.5


def test_starter_balanced_multiclass_gets_ce(tmp_path):
    _folder(tmp_path, [_blocks([0, 1, 2, 3], shift=i) for i in range(8)])
    scan = scan_folder(tmp_path)
    assert scan.imbalance == pytest.approx(1.0)
    cfg = starter_config(scan)
    assert cfg.loss.name == "ce" and cfg.data.class_weights == "none"
    assert "val_fraction" not in cfg.data.options  # 8 samples: the default 20% gives a val image


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_starter_val_split_is_never_empty(tmp_path, n):
    _folder(tmp_path, [_blocks([0, 1], shift=i) for i in range(n)])
    scan = scan_folder(tmp_path)
    cfg = starter_config(scan)
    fraction = cfg.data.options.get("val_fraction", 0.2)
    if n < 5:
        assert fraction > 0.2
    val = random_split(scan.samples, "val", val_fraction=fraction)
    train = random_split(scan.samples, "train", val_fraction=fraction)
    assert len(val) >= 1 and len(train) >= 1 and len(val) + len(train) == n


def test_starter_config_survives_the_toml_round_trip(tmp_path, capsys, wide_console):
    _drive_like(tmp_path)
    rc, out = _cli(capsys, ["data", "init", str(tmp_path), "--roi", "roi", "--match", MATCH])
    assert rc == 0, out
    cfg = load_config(tmp_path / "train.toml")
    assert cfg.data.options == {
        "images": "images",
        "masks": "masks",
        "roi": "roi",
        "match": MATCH,
        "val_fraction": pytest.approx(1 / 3, abs=1e-4),
    }
    assert cfg.data.crop_size == [20, 20]
    assert cfg.model.encoder_weights == "none"  # no download


# ----------------------------------------------------------------------------------------------
# 6. the starter config trains


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: faster than two for a tiny network on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_starter_config_trains_end_to_end(tmp_path, capsys, wide_console, one_torch_thread):
    """The starter config as written (U-Net, ResNet-18 from scratch, ROI, --match), one short epoch."""
    root = tmp_path / "data"
    _drive_like(root, keys=range(21, 27), size=(64, 64))
    rc, out = _cli(capsys, ["data", "init", str(root), "--roi", "roi", "--match", MATCH])
    assert rc == 0, out
    run = tmp_path / "run"
    rc, out = _cli(
        capsys,
        [
            "train",
            "--config",
            str(root / "train.toml"),
            "--set",
            "train.epochs=1",
            "--set",
            f"train.out_dir={run}",
            "--set",
            "data.workers=0",
            "--set",
            "data.cache=false",
            "--set",
            "data.batch_size=2",
            "--set",
            "train.amp=none",
        ],
    )
    assert rc == 0, out
    assert (run / "best.pt").is_file(), out


def test_value_map_target_255_is_void(tmp_path):
    import numpy as np
    from PIL import Image

    from segwise.data.scan import scan_folder

    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "images" / f"{i}.png")
        m = np.zeros((8, 8), np.uint8)
        m[:4] = 128
        m[0, 0] = 255
        Image.fromarray(m).save(tmp_path / "masks" / f"{i}.png")
    scan = scan_folder(tmp_path, value_map={0: 0, 128: 1, 255: 255})
    assert scan.spec.num_classes == 2 and scan.spec.ignore_index == 255
