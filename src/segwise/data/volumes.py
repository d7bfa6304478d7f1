"""Medical volumes: read and write ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha`` and ``.mhd``
files with their geometry (spacing, origin, direction), through SimpleITK.

Arrays are in SimpleITK's array order ``(z, y, x)`` (slices first); :class:`Geometry` keeps the
header's values in physical order ``(x, y, z)`` as SimpleITK gives them, and
:attr:`Geometry.array_spacing` is the spacing in array order, what distance computations need.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "case_001.nii.gz"
    >>> g = Geometry(spacing=(0.5, 0.5, 2.5), origin=(0.0, 0.0, 0.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> write_volume(path, np.zeros((4, 5, 6), np.uint8), g)
    >>> arr, g2 = read_volume(path)
    >>> arr.shape, g2.array_spacing
    ((4, 5, 6), (2.5, 0.5, 0.5))
    >>> volume_stem(path)
    'case_001'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segwise.errors import DataError
from segwise.io_utils import atomic_path

__all__ = [
    "VOLUME_SUFFIXES",
    "Geometry",
    "check_same_geometry",
    "is_volume",
    "read_label_volume",
    "read_roi_volume",
    "read_volume",
    "volume_stem",
    "volume_suffix",
    "write_volume",
]

# Longest first: ".nii.gz" before ".gz"-less forms.
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass(frozen=True)
class Geometry:
    """Where a volume's voxels lie in space, as the file header gives it.

    Attributes:
        spacing: voxel size in mm (or the file's unit), physical order ``(x, y, z)``.
        origin: position of the first voxel, ``(x, y, z)``.
        direction: the direction cosines, row-major ``d*d`` values.
    """

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @property
    def array_spacing(self) -> tuple[float, ...]:
        """The spacing in array axis order ``(z, y, x)``."""
        return tuple(reversed(self.spacing))

    def to_dict(self) -> dict[str, list[float]]:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}


def volume_suffix(path: str | os.PathLike[str]) -> str | None:
    """The volume suffix of ``path`` (``".nii.gz"``, ``".nrrd"``, ...), lower-case, or ``None``."""
    name = Path(path).name.lower()
    return next((s for s in VOLUME_SUFFIXES if name.endswith(s)), None)


def is_volume(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a volume suffix."""
    return volume_suffix(path) is not None


def volume_stem(path: str | os.PathLike[str]) -> str:
    """The file name without its volume suffix: ``case_0000.nii.gz`` → ``case_0000``."""
    name = Path(path).name
    suffix = volume_suffix(path)
    return name[: -len(suffix)] if suffix else Path(path).stem


def _sitk():  # noqa: ANN202 - SimpleITK has no type stubs
    try:
        import SimpleITK as sitk
    except ImportError as e:  # pragma: no cover - a dependency of segwise
        raise DataError(
            "reading medical volumes needs SimpleITK: pip install SimpleITK (a dependency of segwise)."
        ) from e
    return sitk


def read_volume(path: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
    """The voxels ``(z, y, x)`` (or ``(y, x)`` for a 2D file; vector voxels add a last axis) and the
    geometry of a volume file. A missing or unreadable file raises :class:`DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"volume {path} does not exist.")
    sitk = _sitk()
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise DataError(
            f"cannot read volume {path}: {first}. Expected a NIfTI (.nii/.nii.gz), NRRD or MetaImage (.mha/.mhd) file."
        ) from e
    geometry = Geometry(
        spacing=tuple(float(s) for s in image.GetSpacing()),
        origin=tuple(float(o) for o in image.GetOrigin()),
        direction=tuple(float(d) for d in image.GetDirection()),
    )
    return sitk.GetArrayFromImage(image), geometry


def read_label_volume(path: str | os.PathLike[str], role: str = "label map") -> tuple[np.ndarray, Geometry]:
    """A label map (ground truth, prediction) as integers ``(z, y, x)`` and its geometry.

    Float voxels are accepted when they are all whole numbers (some tools write label maps as
    float32) and converted; anything else (probabilities, vector voxels, a 4-D series) is a
    :class:`DataError` naming the file and what to write instead.

    Shape:
        - output: ``(z, y, x)`` (``(y, x)`` for a 2-D file), an integer dtype
    """
    array, geometry = read_volume(path)
    if array.ndim == len(geometry.spacing) and array.ndim > 3:
        raise DataError(
            f"{role} {path} is a {array.ndim}-D image (array shape {array.shape}); a label map is a 3-D volume. "
            "Write one file per case and time point."
        )
    if array.ndim != len(geometry.spacing) or array.ndim not in (2, 3):
        raise DataError(
            f"{role} {path} has voxels of {array.shape[-1]} components (array shape {array.shape}, "
            f"{len(geometry.spacing)}-D image); a label map holds one class id per voxel. Write the class ids "
            "(e.g. the argmax over the classes) as a 3-D integer volume."
        )
    if np.issubdtype(array.dtype, np.floating):
        whole = np.isfinite(array).all() and bool((array == np.round(array)).all())
        if not whole:
            raise DataError(
                f"{role} {path} holds non-integer values ({array.dtype}, e.g. {_first_fraction(array)}); a label "
                "map holds class ids. Write the argmax of probabilities, as an integer volume (e.g. uint8)."
            )
        lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
        array = array.astype(np.uint8 if lo >= 0 and hi < 256 else np.int32)
    elif array.dtype == np.bool_:
        array = array.view(np.uint8)
    elif not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"{role} {path} has voxels of type {array.dtype}; a label map holds integer class ids."
        )
    return array, geometry


def _first_fraction(array: np.ndarray) -> str:
    bad = array[~np.isfinite(array) | (array != np.round(array))]
    return f"{bad.flat[0]:g}"


def read_roi_volume(path: str | os.PathLike[str]) -> tuple[np.ndarray, Geometry]:
    """A region-of-interest volume: ``True`` where the voxel is not 0, and its geometry."""
    array, geometry = read_volume(path)
    if array.ndim != len(geometry.spacing):
        raise DataError(
            f"ROI volume {path} has voxels of {array.shape[-1]} components; an ROI volume holds one value per "
            "voxel (0 = not evaluated)."
        )
    return array != 0, geometry


def write_volume(path: str | os.PathLike[str], array: np.ndarray, geometry: Geometry) -> None:
    """Write ``array`` (array order ``(z, y, x)``) with ``geometry``, atomically; the format follows
    the suffix of ``path``."""
    path = Path(path)
    suffix = volume_suffix(path)
    if suffix is None:
        raise DataError(f"{path}: not a volume file name; use one of {', '.join(VOLUME_SUFFIXES)}.")
    sitk = _sitk()
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    if image.GetDimension() != len(geometry.spacing):
        raise DataError(
            f"{path}: the array has {image.GetDimension()} dimensions but the geometry {len(geometry.spacing)}."
        )
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        # SimpleITK picks the writer from the suffix: keep it on the temporary name
        tmp_named = tmp.with_name(tmp.name + suffix)
        sitk.WriteImage(image, str(tmp_named), useCompression=suffix in (".nii.gz", ".nrrd", ".mha"))
        os.replace(tmp_named, tmp)


def check_same_geometry(
    a: Path,
    shape_a: Sequence[int],
    geometry_a: Geometry,
    b: Path,
    shape_b: Sequence[int],
    geometry_b: Geometry,
    rtol: float = 1e-4,
) -> None:
    """Raise :class:`DataError` naming both files and the differing values unless the two volumes
    share their shape and spacing (within ``rtol`` relative) and their origin and direction
    (within ``rtol`` relative to the spacing / absolute ``1e-4``)."""

    def show(
        values: Sequence[float],
    ) -> str:  # 6 significant digits: float32 headers print as 0.8, not 0.800000011920929
        return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"

    problems = []
    if tuple(shape_a) != tuple(shape_b):
        problems.append(f"shape {tuple(shape_a)} vs {tuple(shape_b)}")
    sa, sb = np.asarray(geometry_a.spacing), np.asarray(geometry_b.spacing)
    if sa.shape != sb.shape or not np.allclose(sa, sb, rtol=rtol, atol=0.0):
        problems.append(f"spacing {show(geometry_a.spacing)} vs {show(geometry_b.spacing)}")
    else:
        oa, ob = np.asarray(geometry_a.origin), np.asarray(geometry_b.origin)
        if not np.allclose(oa, ob, rtol=0.0, atol=float(rtol * sa.max())):
            problems.append(f"origin {show(geometry_a.origin)} vs {show(geometry_b.origin)}")
        if not np.allclose(geometry_a.direction, geometry_b.direction, rtol=0.0, atol=1e-4):
            problems.append(f"direction {show(geometry_a.direction)} vs {show(geometry_b.direction)}")
    if problems:
        raise DataError(
            f"{a} and {b} do not share their geometry: {'; '.join(problems)}. Ground truth and prediction of a "
            "case must be on the same voxel grid: resample one onto the other (e.g. SimpleITK.Resample with "
            "nearest-neighbour interpolation for label maps), or check that the files belong to the same case."
        )
