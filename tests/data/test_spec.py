"""DatasetSpec: validation, JSON round trip, CamVid constants against the data's README."""

from __future__ import annotations

import json
import re

import pytest

from segwise.data import CAMVID_SPEC, DatasetSpec, make_spec, spec_from_class_table
from segwise.data.readers import ClassTable
from segwise.data.spec import load_spec
from segwise.errors import DataError, InputError


def test_json_round_trip_string_and_dict():
    spec = DatasetSpec(
        "cells",
        ("bg", "cell"),
        ignore_index=255,
        mask_encoding="value_map",
        value_map={0: 0, 128: 255, 255: 1},
        in_channels=1,
    ).validate()
    text = spec.to_json()
    assert isinstance(text, str)
    assert json.loads(text)["format"] == 1
    assert DatasetSpec.from_json(text) == spec
    assert DatasetSpec.from_json(spec.to_dict()) == spec
    assert DatasetSpec.from_json(text.encode()) == spec
    assert spec.value_map == ((0, 0), (128, 255), (255, 1))
    assert spec.mean == pytest.approx(((0.485 + 0.456 + 0.406) / 3,))


def test_spec_is_frozen_and_hashable():
    with pytest.raises(AttributeError):
        CAMVID_SPEC.ignore_index = 3  # type: ignore[misc]
    assert hash(CAMVID_SPEC) == hash(DatasetSpec.from_json(CAMVID_SPEC.to_json()))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"class_names": ()}, "class_names is empty"),
        ({"class_names": ("a", "a")}, "unique"),
        ({"ignore_index": 1}, "ignore_index 1 is also a class id"),
        ({"colors": ((0, 0, 0),)}, "1 colours for 2 classes"),
        ({"colors": ((0, 0, 0), (0, 0, 300))}, "0..255"),
        ({"mask_encoding": "rbg"}, "did you mean 'rgb'"),
        ({"mask_encoding": "value_map"}, "needs value_map pairs"),
        ({"mask_encoding": "value_map", "value_map": {0: 0, 255: 7}}, "targets [(255, 7)]"),
        ({"value_map": {0: 0}}, "value_map is set but mask_encoding is 'index'"),
        ({"in_channels": 2}, "in_channels is 2"),
        ({"in_channels": 3, "mean": (0.5,), "std": (0.2,)}, "mean/std have 1/1 values"),
        ({"std": (0.2, 0.0, 0.2)}, "std must be positive"),
        ({"mask_encoding": "rgb", "colors": ((1, 1, 1), (1, 1, 1))}, "distinct colour"),
        ({"mask_encoding": "rgb", "ignore_color": (9, 9, 9)}, "needs an ignore_index"),
    ],
)
def test_validate_names_the_problem(kwargs, fragment):
    base = {"name": "x", "class_names": ("a", "b")}
    with pytest.raises(InputError) as info:
        DatasetSpec(**{**base, **kwargs}).validate()
    assert fragment in str(info.value)
    assert "'x'" in str(info.value) or "x" in str(info.value)


def test_from_json_refuses_unknown_keys_with_suggestion():
    data = CAMVID_SPEC.to_dict()
    data["ignore_idx"] = data.pop("ignore_index")
    with pytest.raises(InputError, match="unknown key 'ignore_idx'; did you mean 'ignore_index'"):
        DatasetSpec.from_json(data)
    with pytest.raises(InputError, match="format 9"):
        DatasetSpec.from_json({**CAMVID_SPEC.to_dict(), "format": 9})
    with pytest.raises(InputError, match="cannot be parsed"):
        DatasetSpec.from_json("{not json")


def test_replace_validates_and_rejects_unknown_fields():
    assert CAMVID_SPEC.replace(ignore_index=255).ignore_index == 255
    with pytest.raises(InputError, match="did you mean 'class_names'"):
        CAMVID_SPEC.replace(class_name=("a",))
    with pytest.raises(InputError, match="ignore_index 3 is also a class id"):
        CAMVID_SPEC.replace(ignore_index=3)


def _readme_classes(camvid_root):
    """Parse the class table of the CamVid README: | id | class | r,g,b |."""
    rows = {}
    for line in (camvid_root / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*(\d+),(\d+),(\d+)\s*\|", line)
        if m:
            rows[int(m.group(1))] = (m.group(2), tuple(int(m.group(i)) for i in (3, 4, 5)))
    return rows


def test_camvid_spec_matches_readme(camvid_root):
    rows = _readme_classes(camvid_root)
    assert len(rows) == 12
    assert CAMVID_SPEC.num_classes == 11
    assert CAMVID_SPEC.ignore_index == 11 and rows[11][0].startswith("Unlabelled")
    for cid in range(11):
        assert CAMVID_SPEC.class_names[cid] == rows[cid][0]
        assert CAMVID_SPEC.colors[cid] == rows[cid][1]


def test_spec_from_class_table_maps_void_row_to_ignore_colour():
    table = ClassTable((0, 1, 11), ("Sky", "Road", "Void"), ((128, 128, 128), (128, 64, 128), (0, 0, 0)))
    spec = spec_from_class_table(table, name="t", ignore_index=11)
    assert spec.class_names == ("Sky", "Road")
    assert spec.ignore_color == (0, 0, 0)
    assert spec.mask_encoding == "rgb"
    with pytest.raises(InputError, match="ids must be 0..C-1"):
        spec_from_class_table(table, name="t")


def test_make_spec_and_load_spec(tmp_path):
    csv = tmp_path / "classes.csv"
    csv.write_text("id,name,r,g,b\n0,Low,0,0,0\n1,High,255,255,255\n")
    assert make_spec("t", classes=csv).colors == ((0, 0, 0), (255, 255, 255))
    spec = make_spec("t", num_classes=3, ignore_index=255)
    assert spec.class_names == ("0", "1", "2") and spec.mask_encoding == "index"
    with pytest.raises(InputError, match="num_classes=N or classes=CSV"):
        make_spec("t")
    (tmp_path / "spec.json").write_text(spec.to_json())
    assert load_spec(None, tmp_path) == spec
    (tmp_path / "bad.json").write_text('{"name": "t", "class_names": ["a"], "colour": 1}')
    with pytest.raises(DataError, match=r"bad.json.*unknown key 'colour'"):
        load_spec(tmp_path / "bad.json", tmp_path)
    with pytest.raises(InputError, match="needs a DatasetSpec"):
        load_spec(None, tmp_path / "nowhere")
