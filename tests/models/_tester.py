"""The shared model tester: every registered architecture runs the same checks.

A test module adds a few lines per architecture::

    class TestSegNet(ModelTester):
        arch = "segnet"
        options = {"base_width": 8}

``tests/models/test_archs.py`` fails if a registered architecture has no tester.
"""

from __future__ import annotations

import io
import json
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segwise.errors import InputError
from segwise.models import (
    SegmentationModel,
    create_model,
    freeze_encoder,
    load_encoder_weights,
    unfreeze_encoder,
)

ODD_SIZES = [(37, 45), (33, 70)]
NORMS = nn.modules.batchnorm._NormBase


class ModelTester:
    arch: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    # parameters the architecture never uses (smp keeps encoder stages that pspnet does not call)
    unused_prefixes: ClassVar[tuple[str, ...]] = ()
    num_classes: ClassVar[int] = 3
    # options that switch off the architecture's own dropout layers (for the dropout=0 check)
    no_arch_dropout: ClassVar[dict[str, Any]] = {}

    def build(self, num_classes: int | None = None, **overrides: Any) -> SegmentationModel:
        torch.manual_seed(0)
        options = {**self.options, **overrides}
        return create_model(self.arch, num_classes or self.num_classes, **options)

    @staticmethod
    def batch(height: int = 37, width: int = 45, n: int = 2, channels: int = 3) -> torch.Tensor:
        return torch.randn(n, channels, height, width, generator=torch.Generator().manual_seed(1))

    # ------------------------------------------------------------------ forward
    @pytest.mark.parametrize(("height", "width"), ODD_SIZES)
    def test_forward_any_size(self, height: int, width: int) -> None:
        model = self.build().eval()
        with torch.no_grad():
            out = model(self.batch(height, width))
        assert out.shape == (2, self.num_classes, height, width)
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()

    def test_no_padding_when_already_a_multiple(self) -> None:
        model = self.build().eval()
        m = model.required_multiple
        x = self.batch(m * 2, m * 3)
        with torch.no_grad():
            assert torch.equal(model(x), model.forward_padded(x))

    def test_in_channels(self) -> None:
        model = self.build(in_channels=1).eval()
        with torch.no_grad():
            out = model(self.batch(channels=1))
        assert out.shape == (2, self.num_classes, 37, 45)

    def test_bad_input_is_a_clear_error(self) -> None:
        model = self.build().eval()
        with pytest.raises(InputError, match="in_channels=3"):
            model(torch.zeros(1, 4, 32, 32))
        with pytest.raises(InputError, match="unsqueeze"):
            model(torch.zeros(3, 32, 32))
        with pytest.raises(InputError, match="floating point"):
            model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))

    # ------------------------------------------------------------------ backward
    def test_backward_reaches_every_parameter(self) -> None:
        model = self.build().train()
        target = torch.randint(0, self.num_classes, (2, 37, 45))
        F.cross_entropy(model(self.batch()), target).backward()
        for name, param in model.named_parameters():
            if name.startswith(self.unused_prefixes) and self.unused_prefixes:
                continue
            assert param.grad is not None, f"{name} got no gradient"
            assert torch.isfinite(param.grad).all(), name

    # ------------------------------------------------------------------ save / load
    def test_config_and_state_dict_round_trip(self) -> None:
        model = self.build().eval()
        config = json.loads(json.dumps(model.config))  # checkpoints store it as JSON-like data
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        rebuilt = create_model(**config)
        rebuilt.load_state_dict(torch.load(buffer, weights_only=True))
        rebuilt.eval()
        assert rebuilt.config == model.config
        x = self.batch()
        with torch.no_grad():
            assert torch.equal(model(x), rebuilt(x))

    # ------------------------------------------------------------------ dropout
    def test_dropout_on_and_off(self) -> None:
        x = self.batch(n=2)
        model = self.build(dropout=0.5).train()
        assert model.config["dropout"] == 0.5
        with torch.no_grad():
            assert not torch.allclose(model(x), model(x)), "dropout=0.5 in train mode must be stochastic"
            model.eval()
            assert torch.equal(model(x), model(x))
        plain = self.build(dropout=0.0, **self.no_arch_dropout).train()
        with torch.no_grad():
            assert torch.equal(plain(x), plain(x)), "dropout=0 must be deterministic in train mode"

    # ------------------------------------------------------------------ freezing
    def test_frozen_encoder_gets_no_gradient_and_keeps_bn_stats(self) -> None:
        model = self.build()
        freeze_encoder(model)
        model.train()  # must not unfreeze the encoder's batch norm
        norms = [m for m in model.encoder.modules() if isinstance(m, NORMS)]
        assert all(not m.training for m in norms)
        stats = {k: v.clone() for k, v in model.encoder.state_dict().items() if "running" in k}
        target = torch.randint(0, self.num_classes, (2, 37, 45))
        F.cross_entropy(model(self.batch()), target).backward()
        assert all(p.grad is None for p in model.encoder.parameters())
        assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in stats.items())
        assert all(p.grad is not None for p in model.head.parameters())
        unfreeze_encoder(model)
        assert all(p.requires_grad for p in model.encoder.parameters())
        assert all(m.training for m in model.encoder.modules() if isinstance(m, NORMS))
        assert not model.encoder_frozen

    def test_freeze_with_train_bn(self) -> None:
        model = self.build()
        model.freeze_encoder(train_bn=True)
        model.train()
        assert all(m.training for m in model.encoder.modules() if isinstance(m, NORMS))
        assert not any(p.requires_grad for p in model.encoder.parameters())

    # ------------------------------------------------------------------ transfer learning
    def test_transfer_from_checkpoint_with_other_class_count(self, tmp_path) -> None:
        source = self.build(num_classes=3)
        path = tmp_path / "run.pt"
        torch.save(
            {
                "model": source.state_dict(),
                "model_config": source.config,
                "spec": {"name": "synthetic", "num_classes": 3},
                "class_names": ["a", "b", "c"],
                "segwise_version": "0.1.0",
            },
            path,
        )
        torch.manual_seed(123)  # the new model starts from other random weights
        model = create_model(self.arch, 5, encoder_weights=str(path), **self.options)
        report = model.weights_report
        assert report.kind == "segwise checkpoint"
        assert report.source_config["num_classes"] == 3
        assert report.complete and not report.unexpected
        for key, value in source.encoder.state_dict().items():
            assert torch.equal(model.encoder.state_dict()[key], value), key
        assert report.loaded == [f"encoder.{k}" for k in source.encoder.state_dict()]
        assert model.config["num_classes"] == 5
        assert model.weights_source == str(path)
        out = model.eval()(self.batch())
        assert out.shape == (2, 5, 37, 45)

        body = load_encoder_weights(model, path, include_decoder=True)
        assert body.scope == "encoder+decoder"
        for key, value in source.decoder.state_dict().items():
            assert torch.equal(model.decoder.state_dict()[key], value), key
        assert not any(k.startswith("head.") for k in body.loaded + body.missing + body.unexpected)
