"""Every registered architecture through the shared :class:`ModelTester`, at tiny widths."""

from __future__ import annotations

from segwise.models import list_models
from tests.models._tester import ModelTester

SMP_TINY = {"encoder": "resnet18"}


class TestUNetClassic(ModelTester):
    arch = "unet"
    options = {"base_width": 8, "depth": 3}


class TestUNetClassicBilinearNoBN(ModelTester):
    arch = "unet"
    options = {"base_width": 4, "depth": 2, "upsampling": "bilinear", "batch_norm": False}


class TestUNetSmp(ModelTester):
    arch = "unet"
    options = {**SMP_TINY, "decoder_channels": [16, 16, 8, 8, 8]}


class TestFCN(ModelTester):
    arch = "fcn"
    options = {**SMP_TINY, "fc_channels": 16}


class TestSegNet(ModelTester):
    arch = "segnet"
    options = {"base_width": 8}


class TestSegNetBasic(ModelTester):
    arch = "segnet_basic"
    options = {"width": 8}


class TestDeepLabV3Plus(ModelTester):
    arch = "deeplabv3plus"
    options = {**SMP_TINY, "decoder_channels": 16}
    no_arch_dropout = {"decoder_aspp_dropout": 0.0}


class TestFPN(ModelTester):
    arch = "fpn"
    options = {**SMP_TINY, "decoder_pyramid_channels": 32, "decoder_segmentation_channels": 32}
    no_arch_dropout = {"decoder_dropout": 0.0}


class TestPSPNet(ModelTester):
    arch = "pspnet"
    options = {**SMP_TINY, "psp_out_channels": 16}
    no_arch_dropout = {"psp_dropout": 0.0}
    unused_prefixes = ("encoder.layer3.", "encoder.layer4.")  # smp keeps them; depth 3 never calls them


class TestLinkNet(ModelTester):
    arch = "linknet"
    options = SMP_TINY


def test_every_registered_arch_has_a_tester() -> None:
    tested = {cls.arch for cls in ModelTester.__subclasses__()}
    assert tested == set(list_models())
