"""The prediction core: windows, blending, TTA, checkpoint loading — against direct model calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segwise.data.spec import DatasetSpec
from segwise.errors import CheckpointError, InputError
from segwise.infer.predict import (
    TTA,
    Predictor,
    argmax_classes,
    edge_weights,
    predict_image,
    predict_probabilities,
    to_input,
    window_starts,
)
from segwise.models import create_model, model_from_checkpoint
from segwise.models.checkpoint import save_checkpoint

from .conftest import SPEC, make_checkpoint


def _image(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)


def _reference_probs(model: torch.nn.Module, image: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    """Whole-image probabilities straight from the model: normalise by hand, forward, softmax."""
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0
    x = (x - torch.tensor(spec.mean).view(1, -1, 1, 1)) / torch.tensor(spec.std).view(1, -1, 1, 1)
    with torch.no_grad():
        return model(x).softmax(1)[0].numpy()


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("unet", SPEC.num_classes, base_width=4, depth=2).eval()


class TestWindows:
    @settings(max_examples=200, deadline=None)
    @given(st.integers(1, 3000), st.integers(16, 700), st.floats(0.0, 0.9))
    def test_windows_cover_the_axis_with_the_requested_overlap(self, length, tile, overlap):
        starts = window_starts(length, tile, overlap)
        size = min(tile, length)
        assert starts[0] == 0 and starts[-1] + size == length
        assert starts == sorted(set(starts))
        gaps = np.diff(starts)
        assert (gaps <= max(1, int(tile * (1 - overlap)))).all()  # neighbours overlap at least as asked

    def test_weights_fall_off_to_the_edges_and_cross_fade_to_one(self):
        w = edge_weights(64, 64, 16, 16).numpy()
        assert w.min() > 0 and w.max() == 1.0
        assert np.allclose(w, w[::-1]) and np.allclose(w, w[:, ::-1])
        assert w[32, 0] < w[32, 8] < w[32, 16] == 1.0
        row = w[32]  # two windows of 64 px overlapping by 16 px: the weights sum to 1 across the overlap
        assert np.allclose(row[48:] + row[:16], 1.0)

    def test_argmax_matches_torch_and_takes_the_first_of_ties(self):
        probs = torch.rand(7, 33, 41)
        probs[:, 0, 0] = 0.5
        assert np.array_equal(argmax_classes(probs), probs.argmax(0).numpy())
        assert argmax_classes(probs)[0, 0] == 0


class TestSlidingWindow:
    def test_one_tile_covering_the_image_is_the_whole_image_prediction(self, unet):
        image = _image(45, 70)
        ref = _reference_probs(unet, image, SPEC)
        for tile in (None, 70, 128):
            got = predict_probabilities(image, unet, SPEC, tile=tile)
            np.testing.assert_allclose(got, ref, atol=1e-5)
        assert np.array_equal(predict_image(image, unet, SPEC, tile=128).index, ref.argmax(0))

    @pytest.mark.parametrize("tile,overlap,batch", [(16, 0.0, 1), (24, 0.25, 3), (32, 0.5, 2), (40, 0.9, 8)])
    def test_a_pointwise_model_gives_the_same_probabilities_with_any_windows(self, tile, overlap, batch):
        """A 1x1 convolution sees nothing beyond its pixel, so every window predicts each pixel the same:
        blending with any positive weights must return exactly the whole-image probabilities."""
        torch.manual_seed(1)
        model = torch.nn.Conv2d(3, SPEC.num_classes, 1).eval()
        image = _image(61, 83, seed=3)
        got = predict_probabilities(image, model, SPEC, tile=tile, overlap=overlap, batch_size=batch)
        np.testing.assert_allclose(got, _reference_probs(model, image, SPEC), atol=1e-5)

    def test_windows_are_blended_like_an_independent_full_resolution_reference(self, unet):
        """Re-statement in numpy: accumulate every window's softmax times its linear-ramp weights at full
        resolution, divide by the summed weights."""
        image, tile, overlap = _image(70, 90, seed=5), 32, 0.25
        h, w = image.shape[:2]
        ys, xs = window_starts(h, tile, overlap), window_starts(w, tile, overlap)

        def ramp(n: int, starts: list[int]) -> np.ndarray:
            r = max(1, n - max(b - a for a, b in zip(starts, starts[1:], strict=False)))
            d = np.minimum(np.arange(n) + 0.5, n - np.arange(n) - 0.5)
            return np.clip(d / r, 1e-3, 1.0)

        weight = np.outer(ramp(tile, ys), ramp(tile, xs))
        acc = np.zeros((SPEC.num_classes, h, w))
        wsum = np.zeros((h, w))
        for y in ys:
            for x in xs:
                p = _reference_probs(unet, image[y : y + tile, x : x + tile], SPEC)
                acc[:, y : y + tile, x : x + tile] += p * weight
                wsum[y : y + tile, x : x + tile] += weight
        ref = acc / wsum
        got = predict_probabilities(image, unet, SPEC, tile=tile, overlap=overlap, batch_size=4)
        np.testing.assert_allclose(got, ref, atol=1e-5)
        assert not np.allclose(got, _reference_probs(unet, image, SPEC), atol=1e-3)  # windows did matter

    def test_float16_probabilities_and_index_agree(self, unet):
        pred = predict_image(_image(50, 66), unet, SPEC, tile=32, return_probs=True)
        assert pred.index.dtype == np.uint8 and pred.index.shape == (50, 66)
        assert pred.probs is not None and pred.probs.shape == (SPEC.num_classes, 50, 66)
        full = predict_probabilities(_image(50, 66), unet, SPEC, tile=32)
        assert np.array_equal(pred.index, full.argmax(0))
        assert pred.probs.dtype == np.float16
        np.testing.assert_allclose(pred.probs.astype(np.float32), full, atol=1e-3)


class TestTTA:
    def test_parse(self):
        assert TTA.parse("flip,scales=0.75,1,1.25") == TTA(True, (0.75, 1.0, 1.25))
        assert TTA.parse("scales=0.5,2,flip") == TTA(True, (0.5, 2.0))
        assert TTA.parse(None) == TTA.parse("none") == TTA()
        assert TTA.parse("flip").describe() == "flip"
        with pytest.raises(InputError, match="unknown item 'vflip'"):
            TTA.parse("vflip")
        with pytest.raises(InputError, match="not a number"):
            TTA.parse("scales=1,big")
        with pytest.raises(InputError, match="scales"):
            TTA(scales=(0.0,))

    def test_flip_of_a_flip_equivariant_model_changes_nothing(self):
        torch.manual_seed(2)
        model = torch.nn.Conv2d(3, SPEC.num_classes, 1).eval()  # pointwise, hence flip-equivariant
        image = _image(40, 52, seed=7)
        plain = predict_probabilities(image, model, SPEC)
        np.testing.assert_allclose(
            predict_probabilities(image, model, SPEC, tta=TTA(flip=True)), plain, atol=1e-6
        )

    def test_flip_averages_the_model_and_its_mirror(self, unet):
        image = _image(40, 52, seed=8)
        ref = (
            _reference_probs(unet, image, SPEC)
            + _reference_probs(unet, image[:, ::-1].copy(), SPEC)[:, :, ::-1]
        ) / 2
        got = predict_probabilities(image, unet, SPEC, tta=TTA(flip=True))
        np.testing.assert_allclose(got, ref, atol=1e-5)

    def test_scales_of_a_pointwise_model_on_a_flat_image_change_nothing(self):
        torch.manual_seed(3)
        model = torch.nn.Conv2d(3, SPEC.num_classes, 1).eval()
        image = np.full((30, 44, 3), (10, 200, 90), np.uint8)
        plain = predict_probabilities(image, model, SPEC)
        got = predict_probabilities(image, model, SPEC, tta=TTA(flip=True, scales=(0.5, 1.0, 1.5)), tile=24)
        np.testing.assert_allclose(got, plain, atol=1e-5)

    def test_scales_average_resized_predictions(self, unet):
        import torch.nn.functional as F

        image = _image(32, 48, seed=9)
        x = to_input(image[None], SPEC, torch.device("cpu"))
        with torch.no_grad():
            small = F.interpolate(x, size=(16, 24), mode="bilinear", align_corners=False, antialias=True)
            p_small = F.interpolate(
                unet(small).softmax(1), size=(32, 48), mode="bilinear", align_corners=False
            )
        ref = (p_small[0].numpy() + _reference_probs(unet, image, SPEC)) / 2
        got = predict_probabilities(image, unet, SPEC, tta=TTA(scales=(0.5, 1.0)))
        np.testing.assert_allclose(got, ref, atol=1e-5)


class TestInputs:
    def test_channel_mismatch_is_a_clear_error(self, unet):
        with pytest.raises(InputError, match="has 4 channels but the model expects 3"):
            predict_image(_image(20, 20, channels=4), unet, SPEC)
        with pytest.raises(InputError, match="uint8"):
            predict_image(np.zeros((20, 20, 3), np.float32), unet, SPEC)

    @pytest.mark.parametrize(
        "kw,match",
        [({"tile": 8}, "--tile"), ({"overlap": 1.0}, "--overlap"), ({"batch_size": 0}, "--batch-size")],
    )
    def test_bad_options(self, unet, kw, match):
        with pytest.raises(InputError, match=match):
            predict_image(_image(20, 20), unet, SPEC, **kw)

    def test_a_model_with_the_wrong_class_count_is_refused(self):
        model = torch.nn.Conv2d(3, 4, 1)
        with pytest.raises(CheckpointError, match="expected logits"):
            predict_image(_image(20, 20), model, SPEC)


class TestCheckpoints:
    def test_predictor_from_checkpoint(self, tiny_ckpt):
        predictor = Predictor.from_checkpoint(tiny_ckpt, tile=32, tta="flip")
        model, spec = model_from_checkpoint(tiny_ckpt)
        assert spec == SPEC and predictor.spec == SPEC
        image = _image(40, 40)
        ref = predict_probabilities(image, model, spec, tile=32, tta=TTA(flip=True))
        np.testing.assert_allclose(predictor.probabilities(image), ref, atol=1e-6)

    def test_truncated_checkpoint(self, tiny_ckpt, tmp_path):
        bad = tmp_path / "cut.pt"
        bad.write_bytes(tiny_ckpt.read_bytes()[:2000])
        with pytest.raises(CheckpointError, match="truncated"):
            Predictor.from_checkpoint(bad)

    def test_checkpoint_from_an_incompatible_version(self, tmp_path):
        path = tmp_path / "future.pt"
        torch.save({"format": "segwise.checkpoint/9", "segwise_version": "9.0"}, path)
        with pytest.raises(CheckpointError, match="format 'segwise.checkpoint/9'"):
            Predictor.from_checkpoint(path)

    def test_checkpoint_whose_model_config_this_version_cannot_build(self, tmp_path):
        model = create_model("unet", 6, base_width=4, depth=2)
        config = {**model.config, "attention_gates": True}  # an option of some other version
        save_checkpoint(
            tmp_path / "c.pt",
            {"model": model.state_dict(), "model_config": config, "spec": SPEC.to_dict(), "config": {}},
        )
        with pytest.raises(CheckpointError, match="model config does not build"):
            Predictor.from_checkpoint(tmp_path / "c.pt")

    def test_checkpoint_whose_weights_do_not_fit(self, tmp_path):
        model = create_model("unet", 6, base_width=4, depth=2)
        config = {**model.config, "base_width": 8}
        save_checkpoint(
            tmp_path / "w.pt",
            {"model": model.state_dict(), "model_config": config, "spec": SPEC.to_dict(), "config": {}},
        )
        with pytest.raises(CheckpointError, match="weights do not fit"):
            Predictor.from_checkpoint(tmp_path / "w.pt")

    def test_checkpoint_without_spec(self, tmp_path):
        model = create_model("unet", 6, base_width=4, depth=2)
        save_checkpoint(tmp_path / "n.pt", {"model": model.state_dict(), "model_config": model.config})
        with pytest.raises(CheckpointError, match=r"lacks \['spec'\]"):
            Predictor.from_checkpoint(tmp_path / "n.pt")

    def test_four_channel_checkpoint(self, tmp_path):
        spec = SPEC.replace(in_channels=4, mean=(0.5,) * 4, std=(0.25,) * 4)
        path = make_checkpoint(tmp_path / "rgbi.pt", spec)
        predictor = Predictor.from_checkpoint(path)
        assert predictor.predict(_image(24, 24, channels=4)).index.shape == (24, 24)
        with pytest.raises(InputError, match="has 3 channels but the model expects 4"):
            predictor.predict(_image(24, 24))
