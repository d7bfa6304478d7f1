"""Pairing files by key (stem, or the first group of --match), ROI folders, split files and pair lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from segwise.data.files import Sample, pair_samples, read_pair_list, read_split_file
from segwise.data.pairing import compile_match, keyed_files, pair_inputs, pair_to
from segwise.errors import DataError, InputError
from segwise.evaluate import pair_files

DRIVE = r"^(\d+)_"


def _touch(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        (folder / name).write_bytes(b"")
        out.append(folder / name)
    return out


@pytest.fixture
def drive(tmp_path) -> Path:
    """DRIVE-style names: images NN_training.tif, GT NN_manual1.gif, FOV NN_training_mask.gif."""
    ids = ("21", "22", "40")
    _touch(tmp_path / "images", *(f"{i}_training.tif" for i in ids))
    _touch(tmp_path / "masks", *(f"{i}_manual1.gif" for i in ids))
    _touch(tmp_path / "fov", *(f"{i}_training_mask.gif" for i in ids))
    return tmp_path


def test_match_pairs_drive_names_with_their_roi(drive):
    samples = pair_samples(drive / "images", drive / "masks", drive / "fov", match=DRIVE)
    assert [(s.id, s.image.name, s.mask.name, s.roi.name) for s in samples] == [
        (i, f"{i}_training.tif", f"{i}_manual1.gif", f"{i}_training_mask.gif") for i in ("21", "22", "40")
    ]


def test_without_match_drive_names_do_not_pair_and_every_file_is_listed(drive):
    with pytest.raises(DataError) as err:
        pair_samples(drive / "images", drive / "masks")
    msg = str(err.value)
    for i in ("21", "22", "40"):
        assert f"{i}_training.tif" in msg and f"{i}_manual1.gif" in msg
    assert "--match" in msg


@pytest.mark.parametrize("regex", [DRIVE, r"^(\d+)_(\w+)", r"(\d+)_training"])
def test_the_key_is_the_first_group_searched_in_the_stem(drive, regex):
    keys = keyed_files(drive / "fov", (".gif",), "ROI mask", regex)
    assert {k: p.name for k, p in keys.items()} == {
        "21": "21_training_mask.gif",
        "22": "22_training_mask.gif",
        "40": "40_training_mask.gif",
    }


def test_a_file_the_regex_does_not_match_is_listed(drive):
    _touch(drive / "masks", "readme_manual.gif", "notes.gif")
    with pytest.raises(DataError) as err:
        keyed_files(drive / "masks", (".gif",), "mask", DRIVE)
    msg = str(err.value)
    assert "2 files" in msg and "readme_manual.gif" in msg and "notes.gif" in msg
    assert "21_manual1.gif" not in msg
    with pytest.raises(DataError, match="readme_manual.gif"):
        pair_samples(drive / "images", drive / "masks", match=DRIVE)


def test_a_key_twice_in_one_folder_lists_both_files(drive):
    _touch(drive / "masks", "21_manual2.gif")
    with pytest.raises(DataError) as err:
        keyed_files(drive / "masks", (".gif",), "mask", DRIVE)
    msg = str(err.value)
    assert "21_manual1.gif" in msg and "21_manual2.gif" in msg and "'21'" in msg
    assert "22_manual1.gif" not in msg


def test_the_same_stem_twice_is_an_error_too(tmp_path):
    _touch(tmp_path / "m", "a.png", "a.gif")
    with pytest.raises(DataError) as err:
        keyed_files(tmp_path / "m", (".png", ".gif"), "mask")
    assert "a.png" in str(err.value) and "a.gif" in str(err.value)


@pytest.mark.parametrize("regex", [r"^\d+_", "abc"])
def test_a_regex_without_group_is_an_input_error(regex, drive):
    with pytest.raises(InputError, match="no capture group") as err:
        compile_match(regex)
    assert not isinstance(err.value, DataError)
    with pytest.raises(InputError, match="no capture group"):
        pair_samples(drive / "images", drive / "masks", match=regex)


@pytest.mark.parametrize("regex", [r"^(\d+_", "([a-z]"])
def test_an_invalid_regex_is_an_input_error(regex):
    with pytest.raises(InputError, match="not a valid regular expression") as err:
        compile_match(regex)
    assert not isinstance(err.value, DataError) and f"'{regex}'" in str(err.value)  # as typed


def test_an_empty_match_means_stems():
    assert compile_match(None) is None and compile_match("") is None


def test_an_image_without_roi_is_named(drive):
    (drive / "fov" / "22_training_mask.gif").unlink()
    with pytest.raises(DataError) as err:
        pair_samples(drive / "images", drive / "masks", drive / "fov", match=DRIVE)
    msg = str(err.value)
    assert "22_training.tif" in msg and "ROI" in msg
    assert "21_training.tif" not in msg and "40_training.tif" not in msg


def test_extra_roi_files_are_fine(drive):
    _touch(drive / "fov", "99_training_mask.gif")
    assert len(pair_samples(drive / "images", drive / "masks", drive / "fov", match=DRIVE)) == 3


def test_split_file_accepts_keys_image_stems_file_names_and_paths(drive, tmp_path):
    samples = pair_samples(drive / "images", drive / "masks", match=DRIVE)
    split = tmp_path / "val.txt"
    split.write_text("22_training\n# comment\n40\n/elsewhere/21_training.tif\n")
    assert [s.id for s in read_split_file(split, samples)] == ["22", "40", "21"]
    split.write_text("22_training.tif\n22\n")
    with pytest.raises(DataError, match="listed twice"):
        read_split_file(split, samples)
    split.write_text("23_training\n")
    with pytest.raises(DataError, match="23_training"):
        read_split_file(split, samples)


def test_pair_list_with_relative_and_absolute_paths(drive):
    split = drive / "splits" / "train.txt"
    split.parent.mkdir()
    split.write_text(
        "images/21_training.tif masks/21_manual1.gif fov/21_training_mask.gif\n"
        f"{drive / 'images' / '40_training.tif'} {drive / 'masks' / '40_manual1.gif'}\n"
    )
    samples = read_pair_list(split, drive)
    assert samples == [
        Sample(
            "21_training",
            drive / "images/21_training.tif",
            drive / "masks/21_manual1.gif",
            drive / "fov/21_training_mask.gif",
        ),
        Sample("40_training", drive / "images/40_training.tif", drive / "masks/40_manual1.gif", None),
    ]


def test_pair_list_paths_relative_to_the_split_file(drive):
    split = drive / "images" / "list.txt"
    split.write_text("21_training.tif ../masks/21_manual1.gif\n")
    (s,) = read_pair_list(split, drive / "nowhere")
    assert s.mask.resolve() == (drive / "masks" / "21_manual1.gif").resolve()


def test_pair_list_missing_file_names_the_line(drive):
    split = drive / "train.txt"
    split.write_text(
        "images/21_training.tif masks/21_manual1.gif\n\nimages/22_training.tif masks/22_manual9.gif\n"
    )
    with pytest.raises(DataError) as err:
        read_pair_list(split, drive)
    msg = str(err.value)
    assert "line 3" in msg and "masks/22_manual9.gif" in msg and "images/22_training.tif" not in msg


def test_pair_list_with_a_wrong_field_count(drive):
    split = drive / "train.txt"
    split.write_text("images/21_training.tif masks/21_manual1.gif\nimages/22_training.tif\n")
    with pytest.raises(DataError, match="line 2"):
        read_pair_list(split, drive)


def test_segnet_lists_of_nonexistent_absolute_paths_fall_back_to_stems(tmp_path):
    _touch(tmp_path / "images", "a.png", "b.png", "c.png")
    _touch(tmp_path / "masks", "a.png", "b.png", "c.png")
    split = tmp_path / "val.txt"
    split.write_text("/SegNet/CamVid/val/c.png /SegNet/CamVid/valannot/c.png\n/SegNet/CamVid/val/a.png x\n")
    assert read_pair_list(split, tmp_path) is None
    samples = pair_samples(tmp_path / "images", tmp_path / "masks")
    assert [s.id for s in read_split_file(split, samples)] == ["c", "a"]


def test_a_plain_list_of_stems_is_not_a_pair_list(tmp_path):
    split = tmp_path / "val.txt"
    split.write_text("a\nb\n")
    assert read_pair_list(split, tmp_path) is None


def test_eval_pairing_with_match(drive, tmp_path):
    preds = _touch(tmp_path / "pred", "21_training.png", "22_training.png", "40_training.png")
    pairs, missing, extra = pair_files(drive / "masks", tmp_path / "pred", DRIVE)
    assert [(g.name, p.name) for g, p in pairs] == [
        (f"{i}_manual1.gif", p.name) for i, p in zip(("21", "22", "40"), preds, strict=True)
    ]
    assert missing == [] and extra == []


def test_prefix_pairing_only_without_match():
    ref = {"a": Path("a.png"), "a_b": Path("a_b.png")}
    paired, extra = pair_to(ref, {"a_b_pred": Path("a_b_pred.png"), "zz": Path("zz.png")}, prefix=True)
    assert paired == {"a_b": Path("a_b_pred.png")} and extra == [Path("zz.png")]
    paired, extra = pair_to(ref, {"a_b_pred": Path("a_b_pred.png")}, prefix=False)
    assert paired == {} and extra == [Path("a_b_pred.png")]
    with pytest.raises(DataError, match="a_pred.png"):
        pair_to(ref, {"a_pred": Path("a_pred.png"), "a.x": Path("a.x.png")}, prefix=True)


def test_predict_inputs_pair_with_masks_by_match(drive):
    inputs = sorted((drive / "images").iterdir())
    masks = keyed_files(drive / "fov", (".gif",), "--roi", DRIVE)
    pairs, missing = pair_inputs(inputs, masks, DRIVE)
    assert {i.name: m.name for i, m in pairs.items()} == {
        f"{i}_training.tif": f"{i}_training_mask.gif" for i in ("21", "22", "40")
    }
    assert missing == []
    pairs, missing = pair_inputs(inputs, keyed_files(drive / "fov", (".gif",), "--roi"))
    assert {i.name: m.name for i, m in pairs.items()} == {
        f"{i}_training.tif": f"{i}_training_mask.gif" for i in ("21", "22", "40")
    }  # without --match: the one mask whose stem is the image stem + "_..."


def test_unpaired_error_suggests_a_match_regex_for_a_fixed_suffix(tmp_path):
    """CamVid-style `a.png` / `a_L.png` names: the error proposes a --match that pairs them, and it does."""
    for sub, names in (("images", ["a_1.png", "b_2.png"]), ("masks", ["a_1_L.png", "b_2_L.png"])):
        (tmp_path / sub).mkdir()
        for n in names:
            (tmp_path / sub / n).write_bytes(b"")
    with pytest.raises(DataError, match=r"try --match '\^\(\.\*\?\)\(\?:_L\)\?\$'"):
        pair_samples(tmp_path / "images", tmp_path / "masks")
    pairs = pair_samples(tmp_path / "images", tmp_path / "masks", match=r"^(.*?)(?:_L)?$")
    assert [(s.image.name, s.mask.name) for s in pairs] == [
        ("a_1.png", "a_1_L.png"),
        ("b_2.png", "b_2_L.png"),
    ]
