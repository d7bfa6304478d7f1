"""The HTML report: content, self-containedness, inputs it refuses, and the commands that write it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from segwise.cli import main
from segwise.errors import InputError
from segwise.io_utils import write_json
from segwise.metrics import per_image_iou
from segwise.report import build_report, load_result, write_report
from segwise.report.gallery import error_map, select_images

from .conftest import metrics_csv


class _Page(HTMLParser):
    """Collects every tag with its attributes, and the rows of each table by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: dict[str, int] = {}
        self._table: list[str] = []
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table.append(attrs.get("id", ""))
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table.pop()
        elif tag == "tbody":
            self._in_body = False


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def assert_self_contained(text: str) -> None:
    page = _parse(text)
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (
                    f"<{tag} {key}={value[:60]!r}> needs a network or a file"
                )
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", text) and "@import" not in text


def test_report_sections_and_self_containedness(case, tmp_path):
    out = write_report(
        case["full"], tmp_path / "r.html", images=case["images"], run=metrics_csv(tmp_path / "run")
    )
    text = out.read_text()
    assert_self_contained(text)
    page = _parse(text)
    assert page.rows["class-table"] == 6
    for heading in (
        "Summary",
        "Per-class scores",
        "Confusion matrix",
        "Trimap",
        "Worst and best images",
        "Training curves",
        "Class frequency and IoU",
    ):
        assert f">{heading}<" in text, heading
    full = case["full"]
    assert f"{100 * full['miou']:.2f}" in text and f"{100 * full['bf']:.2f}" in text
    ci = full["ci"]["miou"]
    assert f"95% CI {100 * ci['low']:.2f} – {100 * ci['high']:.2f}" in text
    imgs = [a["src"] for t, a in page.tags if t == "img"]
    # 2 bar charts, frequency, confusion, trimap, training + 4 worst and 4 best rows of 4 panels
    assert len(imgs) == 6 + 8 * 4 and all(s.startswith("data:image/") for s in imgs)
    assert "Boundary F1 per class" not in text  # chart titles are inside the images, not the text


def test_pixel_only_result_without_images(case, tmp_path):
    text = build_report(case["result"])
    assert _parse(text).rows["class-table"] == 6
    assert "run eval with --boundary" in text and ">Trimap<" not in text
    assert "no --images folder given" in text
    assert "no image" not in text  # the image column is left out, not shown empty


def test_gallery_shows_the_worst_and_best_images_by_per_image_miou(case):
    per_image = case["result"]["per_image"]
    worst, best = select_images(per_image, 2)
    ranked = sorted(per_image, key=lambda r: r["miou"])
    assert [r["name"] for r in worst] == [r["name"] for r in ranked[:2]]
    assert [r["name"] for r in best] == [r["name"] for r in ranked[::-1][:2]]
    text = build_report(case["result"], images=case["images"], k=2)
    order = [m for m in re.findall(r"<b>(shape_\d+)</b>", text)]
    assert order == [r["name"] for r in worst] + [r["name"] for r in best]


def test_per_image_scores_in_the_eval_result(case):
    """Independent re-statement: per-image IoU from each image's own confusion matrix, averaged over
    the classes present in its ground truth or prediction."""
    from segwise.data.readers import read_mask
    from segwise.metrics import confusion_matrix

    rows = case["result"]["per_image"]
    assert [r["name"] for r in rows] == sorted(p.stem for p in case["gt"].iterdir())
    for row in rows:
        cm = confusion_matrix(
            read_mask(case["pred"] / row["pred"]), read_mask(case["gt"] / row["gt"]), 6, 255
        )
        iou = per_image_iou(cm[None])[0]
        assert row["miou"] == pytest.approx(np.nanmean(iou))


def test_error_map_colours():
    pred = np.array([[0, 1, 2]])
    target = np.array([[0, 2, 255]])
    out = error_map(pred, target, 255)
    assert out[0, 1].tolist() == [230, 30, 30] and out[0, 2].tolist() == [70, 110, 160]


def test_gallery_pairs_images_by_match_and_shows_outside_the_roi_as_ignored(tmp_path):
    """Images, masks and ROI masks named differently (``--match``): the gallery finds the input image by
    the key, and pixels outside the ROI are ignored in the error map, as evaluation counted them."""
    import base64

    import cv2

    from segwise.evaluate import evaluate_folders
    from segwise.report.gallery import IGNORED, WRONG, build_panel

    for sub in ("images", "manual", "fov", "pred"):
        (tmp_path / sub).mkdir()
    inside = np.zeros((16, 20), bool)
    inside[2:14, 3:17] = True
    for k in (21, 22):
        gt = np.zeros((16, 20), np.uint8)
        gt[5:9, 4:15] = 255
        cv2.imwrite(str(tmp_path / "images" / f"{k}_training.png"), np.full((16, 20, 3), 90, np.uint8))
        cv2.imwrite(str(tmp_path / "manual" / f"{k}_manual1.png"), gt)
        cv2.imwrite(str(tmp_path / "fov" / f"{k}_training_mask.png"), inside.astype(np.uint8) * 255)
        # right inside the ROI; 255 outside it, as segwise predict --roi writes
        cv2.imwrite(
            str(tmp_path / "pred" / f"{k}_training.png"), np.where(inside, gt // 255, 255).astype(np.uint8)
        )
    result = evaluate_folders(
        tmp_path / "manual",
        tmp_path / "pred",
        value_map="0:0,255:1",
        roi_dir=tmp_path / "fov",
        match=r"^(\d+)_",
        workers=1,
    )
    assert result["source"]["match"] == r"^(\d+)_" and result["miou"] == 1.0
    assert result["per_image"][0]["roi"] == "21_training_mask.png"
    text = build_report(result, images=tmp_path / "images", k=1)
    assert "no image file" not in text and "ROI mask" not in text
    for stem in ("21", "22"):
        assert f"<b>{stem}_manual1</b>" in text

    from segwise.report.html import _with_image_names

    row = _with_image_names(result["per_image"][:1], tmp_path / "images", result["source"]["match"])[0]
    assert row["image"] == "21_training.png"
    panel = build_panel(
        row,
        images=tmp_path / "images",
        gt_dir=tmp_path / "manual",
        pred_dir=tmp_path / "pred",
        read_gt=lambda p: np.where(cv2.imread(str(p), 0) > 0, 1, 0).astype(np.uint8),
        read_pred=lambda p: cv2.imread(str(p), 0),
        colors=[(0, 0, 0), (255, 255, 255)],
        ignore_index=255,
        width=64,
        roi_dir=tmp_path / "fov",
    )
    assert panel.image is not None and not panel.notes
    err = cv2.imdecode(np.frombuffer(base64.b64decode(panel.error.split(",", 1)[1]), np.uint8), 1)[..., ::-1]
    assert err[0, 0].tolist() == list(IGNORED)  # outside the ROI: ignored, not wrong
    assert not (err == np.array(WRONG)).all(axis=2).any()


def test_missing_files_leave_a_note_not_a_failure(case, tmp_path):
    result = json.loads(json.dumps(case["result"]))
    result["source"]["pred"] = str(tmp_path / "gone")
    text = build_report(result, images=case["images"], k=1)
    assert "no prediction file for" in text and ">no prediction<" in text


def test_comparisons_render_as_tables(case, tmp_path):
    training = {
        "kind": "segwise.comparison",
        "config": "c.toml",
        "split": "val",
        "seeds": 2,
        "class_names": case["result"]["class_names"],
        "variants": [
            {
                "name": n,
                "miou": m,
                "miou_std": 0.01,
                "pixel_accuracy": 0.9,
                "pixel_accuracy_std": 0.0,
                "mean_accuracy": 0.6,
                "mean_accuracy_std": 0.02,
                "iou": [0.5, None, 0.4, 0.3, 0.2, 0.1],
            }
            for n, m in (("loss=ce", 0.41), ("loss=dice", 0.47))
        ],
    }
    write_json(tmp_path / "comparison.json", training)
    rc = main(["report", str(tmp_path / "res.json"), "--out", str(tmp_path / "r.html")])
    assert rc == 2  # the result file does not exist yet
    write_json(tmp_path / "res.json", case["result"])
    rc = main(
        [
            "report",
            str(tmp_path / "res.json"),
            "--compare",
            str(tmp_path / "comparison.json"),
            "--out",
            str(tmp_path / "r.html"),
            "--images",
            str(case["images"]),
            "--title",
            "A <b> title",
        ]
    )
    assert rc == 0
    text = (tmp_path / "r.html").read_text()
    assert _parse(text).rows["compare-table"] == 2
    assert "47.00 ± 1.00" in text and 'class="best"' in text
    assert "A &lt;b&gt; title" in text  # escaped


def test_compare_preds_result_renders(case, tmp_path):
    from segwise.evaluate import compare_predictions

    cmp = compare_predictions(
        case["gt"],
        [case["pred"], case["gt"]],
        num_classes=6,
        ignore_index=255,
        num_resamples=50,
        num_permutations=99,
        workers=1,
        warn=lambda m: None,
    )
    text = build_report(case["result"], comparison=cmp, k=0)
    assert _parse(text).rows["compare-table"] == 2 and cmp["comparisons"][0]["verdict"][:20] in text


@pytest.mark.parametrize(
    "content,match",
    [
        ({"kind": "sklearn.report", "miou": 0.4}, "not a segwise evaluation result"),
        ({"accuracy": 0.9}, "kind None"),
        ({"kind": "segwise.comparison", "variants": []}, "pass it with --compare"),
        ({"kind": "segwise.eval_result", "miou": 0.5}, "incomplete"),
        (
            {
                "kind": "segwise.eval_result",
                "miou": 0.5,
                "num_classes": 2,
                "class_names": ["a", "b"],
                "per_class": [],
                "confusion_matrix": [[1, 0], [0, 1]],
            },
            "malformed",
        ),
    ],
)
def test_result_json_from_another_tool(tmp_path, content, match, capsys):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError, match=match):
        load_result(path)
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "r.html").exists()


def test_other_segwise_json_says_what_it_is(case, tmp_path, capsys):
    """segwise's own data-stats JSON and spec.json are named, with what segwise report takes instead."""
    from segwise.data.stats import class_stats

    stats = tmp_path / "stats.json"
    write_json(stats, class_stats("folder", "all", case["root"], cache=False, workers=1).to_dict())
    for path, what in [
        (stats, "class statistics of a dataset split (segwise data stats --json)"),
        (case["root"] / "spec.json", "a dataset spec (spec.json"),
    ]:
        with pytest.raises(InputError, match=re.escape(what)):
            load_result(path)
        assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "not an evaluation result" in err and "segwise report takes an evaluation result" in err
        assert "segwise eval --json RESULT.json" in err and "cannot be reported" not in err


def test_unreadable_json_and_bad_outputs(case, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["report", str(tmp_path / "bad.json"), "--out", str(tmp_path / "r.html")]) == 2
    assert "not readable JSON" in capsys.readouterr().err
    write_json(tmp_path / "res.json", case["result"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", str(tmp_path / "res.json"), "--out", str(blocker / "r.html")]) == 2
    assert "not a writable folder" in capsys.readouterr().err
    assert (
        main(
            ["report", str(tmp_path / "res.json"), "--run", str(tmp_path), "--out", str(tmp_path / "r.html")]
        )
        == 2
    )
    assert "no metrics.csv" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_eval_writes_a_report(case, tmp_path):
    out = tmp_path / "eval.html"
    rc = main(
        [
            "eval",
            "--gt",
            str(case["gt"]),
            "--pred",
            str(case["pred"]),
            "--num-classes",
            "6",
            "--ignore-index",
            "255",
            "--workers",
            "1",
            "--boundary",
            "--report",
            str(out),
            "--images",
            str(case["images"]),
        ]
    )
    assert rc == 0
    text = out.read_text()
    assert_self_contained(text)
    assert _parse(text).rows["class-table"] == 6 and ">Trimap<" in text and ">Worst and best images<" in text


def test_reliability_diagram_when_the_result_has_calibration(case):
    from segwise.metrics.probs import ProbabilityAccumulator

    rng = np.random.default_rng(0)
    acc = ProbabilityAccumulator(6, 255)
    t = rng.integers(0, 6, size=(20, 30))
    p = rng.dirichlet(np.ones(6), size=(20, 30)).transpose(2, 0, 1).astype(np.float16)
    acc.update(p, t)
    text = build_report({**case["result"], **{k: v for k, v in acc.result().items() if k != "policy"}})
    assert 'alt="Reliability diagram"' in text
    assert 'alt="Reliability diagram"' not in build_report(case["result"])


def test_uncertainty_section_with_risk_coverage_plot(case):
    result = dict(case["result"])
    assert ">Uncertainty<" not in build_report(result)
    result["uncertainty"] = {
        "error_auroc_entropy": 0.81,
        "error_auroc_mi": 0.7,
        "aurc": 0.05,
        "pixels": 100,
        "wrong_pixels": 10,
        "risk_coverage": {
            "coverage": [0.1 * k for k in range(1, 11)],
            "risk": [0.01 * k for k in range(1, 11)],
        },
    }
    text = build_report(result)
    assert ">Uncertainty<" in text and "entropy 0.810" in text and 'alt="risk-coverage curve"' in text
    assert_self_contained(text)
