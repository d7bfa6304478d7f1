"""Pairing by stem, split files and seeded random splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from segwise.data.files import Sample, pair_by_stem, random_split, read_split_file
from segwise.errors import DataError, InputError


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_pairs_by_stem_across_extensions(tmp_path):
    _touch(
        tmp_path,
        "images/a.jpg",
        "images/b.png",
        "masks/a.png",
        "masks/b.png",
        "images/.hidden.png",
        "masks/x.txt",
    )
    assert [
        (s.id, s.image.name, s.mask.name) for s in pair_by_stem(tmp_path / "images", tmp_path / "masks")
    ] == [
        ("a", "a.jpg", "a.png"),
        ("b", "b.png", "b.png"),
    ]


def test_unpaired_files_are_all_listed(tmp_path):
    _touch(tmp_path, "images/a.png", "images/b.png", "images/c.png", "masks/a.png", "masks/z.png")
    with pytest.raises(DataError) as info:
        pair_by_stem(tmp_path / "images", tmp_path / "masks")
    msg = str(info.value)
    assert "2 images" in msg and "b.png, c.png" in msg and "1 masks" in msg and "z.png" in msg
    assert "paired by file stem" in msg


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match=r"image folder .*images is empty"):
        pair_by_stem(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(DataError, match="does not exist"):
        pair_by_stem(tmp_path / "nope", tmp_path / "masks")


def test_duplicate_stems_and_jpeg_masks(tmp_path):
    _touch(tmp_path, "images/a.png", "images/a.jpg", "masks/a.png")
    with pytest.raises(DataError, match="two files with the stem 'a'"):
        pair_by_stem(tmp_path / "images", tmp_path / "masks")
    _touch(tmp_path, "i2/a.png", "m2/a.jpg")
    with pytest.raises(DataError, match="JPEG masks"):
        pair_by_stem(tmp_path / "i2", tmp_path / "m2")


SAMPLES = [Sample(f"im{i}", Path(f"im{i}.png"), Path(f"im{i}.png")) for i in range(10)]


def test_split_file_formats(tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("# val\nim3\n/SegNet/CamVid/val/im1.png /SegNet/CamVid/valannot/im1.png\nim7.png\n\n")
    assert [s.id for s in read_split_file(f, SAMPLES)] == ["im3", "im1", "im7"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("im1\nim99\nimg3\n", "2 samples that are not in the dataset: im99, img3"),
        ("im1\nim1\n", "listed twice"),
        ("# nothing\n", "lists no samples"),
    ],
)
def test_wrong_split_files(tmp_path, content, fragment):
    f = tmp_path / "s.txt"
    f.write_text(content)
    with pytest.raises(DataError) as info:
        read_split_file(f, SAMPLES)
    assert fragment in str(info.value) and str(f) in str(info.value)


def test_missing_split_file(tmp_path):
    with pytest.raises(DataError, match="cannot read split file"):
        read_split_file(tmp_path / "missing.txt", SAMPLES)


def test_random_split_is_seeded_disjoint_and_complete():
    parts = {
        s: [x.id for x in random_split(SAMPLES, s, val_fraction=0.2, test_fraction=0.1, seed=3)]
        for s in ("train", "val", "test")
    }
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (7, 2, 1)
    assert sorted(sum(parts.values(), [])) == sorted(s.id for s in SAMPLES)
    again = [
        x.id
        for x in random_split(list(reversed(SAMPLES)), "val", val_fraction=0.2, test_fraction=0.1, seed=3)
    ]
    assert again == parts["val"]  # input order does not matter
    other = [x.id for x in random_split(SAMPLES, "val", val_fraction=0.2, test_fraction=0.1, seed=4)]
    assert other != parts["val"]
    with pytest.raises(InputError, match="did you mean 'train'"):
        random_split(SAMPLES, "trian")
    with pytest.raises(DataError, match="is empty"):
        random_split(SAMPLES, "test")
