"""docs/config.md is generated from the config dataclasses and the dataset docstrings, and is up to date."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from segwise.data import datasets
from segwise.train.config import config_sections
from segwise.train.config_doc import COMMAND, config_reference, docstring_args, field_comments, section_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def _block(text: str, heading: str) -> str:
    """The part of ``text`` from ``heading`` to the next heading."""
    return text.split(heading + "\n", 1)[1].split("\n#", 1)[0]


def test_docs_config_md_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == config_reference(), f"docs/config.md is stale; run {COMMAND}"


def test_every_field_of_every_section_has_a_row():
    text = config_reference()
    for header, cls in config_sections().values():
        block = _block(text, f"## `{header}`")
        for f in dataclasses.fields(cls):
            assert f"\n| `{f.name}` | " in block, f"{header} lacks {f.name}"


def test_every_dataset_option_has_a_row():
    text = config_reference()
    for name in datasets.DATASETS:
        block = _block(text, f'### `dataset = "{name}"`')
        for option in datasets.dataset_options(name):
            assert f"\n| `{option}` | " in block, f"{name} lacks {option}"
        assert "| `root` |" not in block and "| `transforms` |" not in block


@dataclasses.dataclass
class Toy:
    """A throwaway config section."""

    documented: int = 1  # a documented key
    undocumented: list[str] = dataclasses.field(default_factory=list)


def test_a_field_without_a_comment_raises():
    with pytest.raises(ValueError, match=r"Toy\.undocumented has no comment.*config_doc --write"):
        config_reference({"[toy]": Toy})


def test_comments_above_and_at_the_end_of_a_field():
    source = (
        "class Toy:\n"
        "    # read from above,\n"
        "    # two lines\n"
        "    documented: int = 1  # and from the end\n"
        "    undocumented: list[str] = field(default_factory=list)  # a | b\n"
    )
    comments = field_comments(Toy, source)
    assert comments == {"documented": "read from above, two lines and from the end", "undocumented": "a | b"}
    table = section_table(Toy, source)
    assert "| `documented` | int | `1` | read from above, two lines and from the end |" in table
    assert "| `undocumented` | list[str] | `[]` | a \\| b |" in table  # a pipe would split the cell


class ToyDataset:
    """Toy.

    Args:
        root: The folder.
        size, stride: Shared
            text (``(h, w)``, see :class:`~segwise.data.base.SegmentationDataset`).

    Returns:
        Nothing.
    """

    def __init__(
        self, root: str, split: str = "train", transforms=None, *, size: int = 2, stride=None, other=0
    ):
        pass


def test_dataset_options_come_from_the_docstring(monkeypatch):
    text = "Shared text (`(h, w)`, see `SegmentationDataset`)."
    assert docstring_args(ToyDataset) == {"root": "The folder.", "size": text, "stride": text}
    monkeypatch.setitem(datasets.DATASETS, "toy", ToyDataset)
    with pytest.raises(ValueError, match=r"ToyDataset\(other=\.\.\.\) has no entry in the Args: section"):
        config_reference()


def test_the_example_config_loads(tmp_path):
    from segwise.train.config import load_config

    example = DOC.read_text(encoding="utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "leaves.toml").write_text(example)
    cfg = load_config(tmp_path / "leaves.toml", ["data.options.split_seed=1", "stages=[{epochs = 1}]"])
    assert (cfg.data.dataset, cfg.data.root, cfg.data.options) == (
        "folder",
        "data/leaves",
        {"val_fraction": 0.2, "split_seed": 1},
    )
    assert cfg.train.epochs == 30 and cfg.stages[0].epochs == 1
