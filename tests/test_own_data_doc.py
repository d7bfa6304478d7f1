"""docs/own-data.md runs: every ``segwise`` command in its bash blocks, in order, on a small synthetic
folder with the tutorial's layout, and each step writes what the page says it writes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from segwise.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-data.md"
MATCH = re.compile(r"^(\d+)_")

# The page's training command runs as written, plus these overrides so that it takes seconds: 2 epochs
# validated after each, batch 2, a tiny classic U-Net instead of the starter's ResNet-18 one, decoding
# in the test's process, and fp32 (no bf16 autocast, which is slow on CPUs without native bf16).
# Lines with --resume run as written: they take no --set.
TRAIN_OVERRIDES = [
    "--set",
    "train.epochs=2",
    "--set",
    "train.eval_every=1",
    "--set",
    "data.batch_size=2",
    "--set",
    "model.encoder=classic",
    "--set",
    "model.options={base_width = 4, depth = 2}",
    "--set",
    "data.workers=0",
    "--set",
    "train.amp=none",
]


def doc_commands(text: str) -> list[str]:
    """The lines of the page's bash blocks, in order; a trailing backslash continues a line."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def make_retina(root: Path, keys: range = range(21, 30), height: int = 64, width: int = 80) -> None:
    """A DRIVE-like folder: RGB TIFF images with darker "vessels", vessel masks as 0/255 GIFs, and
    elliptical field-of-view GIFs (255 inside); the vessels lie inside the field of view."""
    rng = np.random.default_rng(0)
    for sub in ("images", "manual", "fov"):
        (root / sub).mkdir(parents=True)
    fov = Image.new("L", (width, height), 0)
    ImageDraw.Draw(fov).ellipse((3, 2, width - 4, height - 3), fill=255)
    inside = np.asarray(fov) > 0
    for k in keys:
        drawn = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(drawn)
        for _ in range(4):
            points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(3)]
            draw.line(points, fill=255, width=int(rng.integers(2, 4)))
        vessel = (np.asarray(drawn) > 0) & inside
        retina = np.array([180.0, 80.0, 40.0]) - vessel[..., None] * np.array([90.0, 40.0, 20.0])
        image = (retina + rng.normal(0, 8, (height, width, 3))) * inside[..., None]
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / "images" / f"{k}_training.tif")
        # optimize=False keeps the grey palette: the GIF stores the values 0 and 255, as DRIVE's do
        mask = Image.fromarray(vessel.astype(np.uint8) * 255)
        mask.save(root / "manual" / f"{k}_manual1.gif", optimize=False)
        fov.save(root / "fov" / f"{k}_training_mask.gif", optimize=False)


def test_every_command_of_the_page_is_a_segwise_command():
    commands = doc_commands(DOC.read_text(encoding="utf-8"))
    assert commands and all(c.startswith("segwise ") for c in commands), [
        c for c in commands if not c.startswith("segwise ")
    ]
    steps = [shlex.split(c)[1] for c in commands]
    for step in ("data", "train", "predict", "eval", "report", "compare-preds"):
        assert step in steps, f"docs/own-data.md has no `segwise {step}` command in a bash block"


def test_the_tutorial_runs_from_folder_to_report(tmp_path, monkeypatch):
    make_retina(tmp_path / "retina")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGWISE_CACHE", str(tmp_path / "cache"))  # the starter config caches decoded files
    for line in doc_commands(DOC.read_text(encoding="utf-8")):
        args = shlex.split(line)[1:]
        if args[0] == "train" and "--resume" not in args:
            args += TRAIN_OVERRIDES
        assert main(args) == 0, f"docs/own-data.md: `{line}` failed (output above)"

    # 1. data init: the spec of binary 0/255 masks and a starter config that pairs by --match, with the ROI
    spec = json.loads(Path("retina/spec.json").read_text())
    assert spec["class_names"] == ["background", "foreground"] and spec["ignore_index"] == 255
    assert spec["mask_encoding"] == "value_map" and spec["value_map"] == [[0, 0], [255, 1]]
    assert spec["in_channels"] == 3
    toml = Path("retina/train.toml").read_text()
    assert 'match = "^(\\\\d+)_"' in toml and 'roi = "fov"' in toml and 'out_dir = "runs/retina"' in toml

    # 2. train: the run folder, finished
    run = Path("runs/retina")
    for name in ("best.pt", "last.pt", "metrics.csv", "config.toml", "tensorboard"):
        assert (run / name).exists(), name
    assert not (run / "FAILED").exists()
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2  # header + 2 epochs

    # 3. predict: class ids inside the field of view, 255 outside it
    inside = np.asarray(Image.open("retina/fov/21_training_mask.gif")) > 0
    index = sorted(Path("preds/index").glob("*.png"))
    assert [p.name for p in index] == [f"{k}_training.png" for k in range(21, 30)]
    for path in index:
        pred = np.asarray(Image.open(path))
        assert (pred[~inside] == 255).all() and set(np.unique(pred[inside])) <= {0, 1}, path
    assert len(list(Path("preds/color").iterdir())) == len(list(Path("preds/overlay").iterdir())) == 9
    assert "roi" in json.loads(Path("preds_tta/eval.json").read_text())["policy"]

    # 4. eval: the masks read through the spec, only pixels inside the field of view counted
    result = json.loads(Path("eval.json").read_text())
    assert result["num_images"] == 9 and result["class_names"] == ["background", "foreground"]
    assert "roi" in result["policy"] and "retina/spec.json" in result["policy"]["ground_truth_masks"]
    vessel = sum(int((np.asarray(Image.open(p)) == 255).sum()) for p in Path("retina/manual").glob("*.gif"))
    assert result["num_pixels"] == 9 * int(inside.sum())
    assert result["per_class"][1]["gt_pixels"] == vessel and not result["warnings"]

    # 6. compare-preds: the Dice of the vessels, with and without TTA
    comparison = json.loads(Path("compare.json").read_text())
    assert comparison["metric"] == "dice:1" and len(comparison["comparisons"]) == 1

    # 5. and 6. report: training curves, the comparison, and a gallery that found every file
    text = Path("report.html").read_text()
    assert ">Training curves<" in text and ">Worst and best images<" in text
    assert "preds_tta/index" in text
    assert not re.search(r"no (image|ground-truth|prediction) file", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```bash\nsegwise eval --gt a \\\n  --pred b\n```\n", ["segwise eval --gt a    --pred b"]),
        ("```bash\n# a comment\n\nsegwise demo\n```\n```text\nsegwise not run\n```\n", ["segwise demo"]),
    ],
)
def test_doc_commands_reads_bash_blocks_only(text, expected):
    assert doc_commands(text) == expected
