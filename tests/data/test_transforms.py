"""Joint transforms: mask values, nearest interpolation, fills, determinism, configuration errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segwise.data import DatasetSpec, build_transforms
from segwise.data.transforms import TRANSFORMS
from segwise.errors import InputError

SPEC = DatasetSpec("toy", tuple("abcde"), ignore_index=255, mean=(0.2, 0.5, 0.8), std=(0.5, 0.5, 0.5))


def _normalised(image: np.ndarray, spec: DatasetSpec = SPEC) -> np.ndarray:
    """Reference: HWC uint8 -> CHW (x / 255 - mean) / std."""
    x = image.astype(np.float64) / 255
    return ((x - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(3, 40),
    w=st.integers(3, 40),
    values=st.lists(st.integers(0, 4), min_size=1, max_size=5, unique=True),
    seed=st.integers(0, 2**31),
    preset=st.sampled_from(["light", "strong"]),
    crop=st.sampled_from([None, (8, 8), (48, 20)]),
)
def test_transformed_mask_only_holds_original_values_or_ignore(h, w, values, seed, preset, crop):
    rng = np.random.default_rng(seed)
    mask = rng.choice(np.array(values, np.uint8), size=(h, w))
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    t = build_transforms(preset, SPEC, crop_size=crop, strength=1.0)
    out_img, out_mask = t(image, mask, np.random.default_rng(seed))
    assert set(np.unique(out_mask.numpy())) <= set(values) | {255}
    expected_size = crop or (h, w)
    assert tuple(out_mask.shape) == tuple(expected_size) == tuple(out_img.shape[1:])


def test_flip_is_exact():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    mask = rng.integers(0, 5, (5, 7), dtype=np.uint8)
    t = build_transforms([{"name": "hflip", "p": 1.0}], SPEC)
    img, m = t(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(m.numpy(), mask[:, ::-1])
    np.testing.assert_allclose(img.numpy(), _normalised(image[:, ::-1]), atol=1e-5)


def test_eval_pipeline_is_normalisation_only():
    image = np.random.default_rng(1).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    mask = np.full((6, 9), 3, np.uint8)
    t = build_transforms("strong", SPEC, train=False)
    img, m = t(image, mask)
    np.testing.assert_allclose(img.numpy(), _normalised(image), atol=1e-5)
    assert m.dtype == torch.int64 and (m == 3).all()


def test_upscale_uses_nearest_for_masks():
    mask = np.array([[0, 1], [2, 3]], np.uint8)
    image = np.zeros((2, 2, 3), np.uint8)
    t = build_transforms([{"name": "random_scale", "range": (2.0, 2.0)}], SPEC)
    _, m = t(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(m.numpy(), np.kron(mask, np.ones((2, 2), np.uint8)))


def test_padded_and_rotated_areas_take_ignore_and_mean_colour():
    image = np.full((10, 10, 3), 255, np.uint8)
    mask = np.ones((10, 10), np.uint8)
    pad = build_transforms([{"name": "random_crop", "size": (14, 10)}], SPEC)
    img, m = pad(image, mask, np.random.default_rng(0))
    assert (m == 255).sum() == 40 and set(np.unique(m.numpy())) == {1, 255}
    # padded image pixels are the mean colour: 0 after normalisation (up to uint8 rounding)
    assert img[:, m == 255].abs().max() < 0.01
    rot = build_transforms([{"name": "rotate", "degrees": 45, "p": 1.0}], SPEC)
    img, m = rot(image, mask, np.random.default_rng(0))
    corners = m.numpy()[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).all() and set(np.unique(m.numpy())) == {1, 255}


def test_same_generator_same_output_and_strength_zero_is_identity():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = rng.integers(0, 5, (20, 30), dtype=np.uint8)
    t = build_transforms("strong", SPEC)
    a = t(image, mask, np.random.default_rng(42))
    b = t(image, mask, np.random.default_rng(42))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    still = build_transforms("strong", SPEC, strength=0.0)
    img, m = still(image, mask, np.random.default_rng(7))
    np.testing.assert_array_equal(m.numpy(), mask)
    np.testing.assert_allclose(img.numpy(), _normalised(image), atol=1e-5)


def test_strength_scales_magnitudes():
    light = {d["name"]: d for d in build_transforms("light", SPEC).describe()}
    strong = {d["name"]: d for d in build_transforms("strong", SPEC).describe()}
    assert strong["rotate"]["degrees"] == 10 and light["rotate"]["degrees"] == 5
    assert light["random_scale"]["range"] == pytest.approx((0.5**0.5, 2**0.5))
    assert light["color_jitter"]["brightness"] == pytest.approx(0.15)
    assert [d["name"] for d in build_transforms("none", SPEC).describe()] == ["normalize"]


def test_describe_round_trips():
    t = build_transforms(["hflip", {"name": "rotate", "degrees": 3}], SPEC, strength=1.0)
    again = build_transforms(t.describe(), SPEC, strength=1.0)
    assert again.describe() == t.describe()


def test_grayscale_and_rgba_images():
    gray_spec = DatasetSpec("g", ("a", "b"), ignore_index=255, in_channels=1)
    img, _ = build_transforms("strong", gray_spec)(np.zeros((9, 9, 1), np.uint8), np.zeros((9, 9), np.uint8))
    assert img.shape == (1, 9, 9)
    rgba_spec = DatasetSpec("r", ("a", "b"), ignore_index=255, in_channels=4)
    img, _ = build_transforms("strong", rgba_spec)(np.zeros((9, 9, 4), np.uint8), np.zeros((9, 9), np.uint8))
    assert img.shape == (4, 9, 9)


@pytest.mark.parametrize(
    ("augment", "fragment"),
    [
        ("strng", "unknown augmentation preset 'strng'; did you mean 'strong'"),
        (["hflp"], "unknown transform 'hflp'; did you mean 'hflip'"),
        ([{"name": "rotate", "degree": 5}], "has no option 'degree'; did you mean 'degrees'"),
        ([{"degrees": 5}], "lacks 'name'"),
        ([{"name": "rotate", "p": 2}], "p must be in [0, 1]"),
        ([{"name": "random_scale", "range": (2, 1)}], "0 < low <= high"),
        (["normalize", "hflip"], "'normalize' must be the last"),
    ],
)
def test_configuration_errors(augment, fragment):
    with pytest.raises(InputError) as info:
        build_transforms(augment, SPEC)
    assert fragment in str(info.value)


def test_padding_steps_need_an_ignore_index():
    spec = DatasetSpec("bin", ("bg", "fg"))
    with pytest.raises(InputError, match="has none; set ignore_index"):
        build_transforms("strong", spec)
    t = build_transforms(["hflip", {"name": "random_crop", "size": 8}], spec)
    t(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8))  # no padding needed: fine
    with pytest.raises(InputError, match="must pad a 4x4 sample to 8x8"):
        t(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8))


def test_registry_lists_the_documented_steps():
    assert set(TRANSFORMS) == {
        "random_scale",
        "random_crop",
        "center_crop",
        "hflip",
        "vflip",
        "rotate",
        "color_jitter",
        "normalize",
    }


def test_eval_center_crop_is_deterministic_and_pads_with_ignore():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    mask = rng.integers(0, 5, (6, 9), dtype=np.uint8)
    t = build_transforms("strong", SPEC, train=False, crop_size=(4, 11))
    img, m = t(image, mask, np.random.default_rng(0))
    # reference: rows 1..4 (centre of 6), columns padded 1 left / 1 right (9 -> 11)
    ref = np.full((4, 11), 255)
    ref[:, 1:10] = mask[1:5]
    np.testing.assert_array_equal(m.numpy(), ref)
    np.testing.assert_allclose(img.numpy()[:, :, 1:10], _normalised(image[1:5]), atol=1e-5)
    img2, m2 = t(image, mask, np.random.default_rng(99))
    assert torch.equal(img, img2) and torch.equal(m, m2)


def test_class_focus_puts_rare_classes_into_crops():
    """A 2x2 patch of class 1 in a corner of a 64x64 class-0 mask, 8x8 crops."""
    from segwise.data.transforms import RandomCrop

    mask = np.zeros((64, 64), np.uint8)
    mask[60:62, 1:3] = 1
    image = np.zeros((64, 64, 3), np.uint8)

    def hit_rate(focus: float) -> float:
        t = build_transforms([{"name": "random_crop", "size": (8, 8), "class_focus": focus}], SPEC)
        rng = np.random.default_rng(0)
        return np.mean([bool((t(image, mask, rng)[1] == 1).any()) for _ in range(400)])

    # plain crops hold the patch with probability (8+1)*(8+1)/57^2 ~ 2.5%; focused crops pick class 1
    # for half the draws (classes 0 and 1 are equally likely) and then always hold a pixel of it
    assert hit_rate(0.0) < 0.08
    assert 0.4 < hit_rate(1.0) < 0.65
    # with nothing but the ignore index there is no class to focus on: a plain random crop
    t = build_transforms([{"name": "random_crop", "size": (8, 8), "class_focus": 1.0}], SPEC)
    _, out = t(image, np.full((64, 64), 255, np.uint8), np.random.default_rng(1))
    assert out.shape == (8, 8) and (out == 255).all()
    # class_focus = 0 draws no extra numbers: the crops of earlier pipelines are unchanged
    a = build_transforms([{"name": "random_crop", "size": (8, 8)}], SPEC)
    b = build_transforms([{"name": "random_crop", "size": (8, 8), "class_focus": 0.0}], SPEC)
    rich = np.random.default_rng(3).integers(0, 5, (64, 64)).astype(np.uint8)
    assert torch.equal(
        a(image, rich, np.random.default_rng(7))[1], b(image, rich, np.random.default_rng(7))[1]
    )
    with pytest.raises(InputError, match="class_focus must be in"):
        RandomCrop(size=(8, 8), class_focus=1.5)


def test_build_transforms_crop_focus_sets_the_default():
    t = build_transforms("light", SPEC, crop_size=(8, 8), crop_focus=0.3)
    crop = {s.name: s for s in t.steps}["random_crop"]
    assert crop.class_focus == 0.3 and crop.size == (8, 8)
