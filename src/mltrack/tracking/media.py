"""Images and tables as run artifacts (MLflow's ``log_image``, ``log_table``, ``load_table``).

Files are written as MLflow writes them, so MLflow's UI and ``mlflow.load_table``
read them: time-stepped images as ``images/<key>+step+<step>+timestamp+<ms>+<uuid>.png``
with a ``+compressed.webp`` thumbnail and the ``mlflow.loggedImages`` tag; tables
as pandas ``split`` JSON (or Parquet), appended to when the file exists, listed in
the ``mlflow.loggedArtifacts`` tag.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrack.exceptions import InvalidParameterValue

if TYPE_CHECKING:
    import pandas

__all__ = [
    "LOGGED_ARTIFACTS_TAG",
    "LOGGED_IMAGES_TAG",
    "as_frame",
    "image_bytes",
    "image_key_paths",
    "open_image",
    "png_and_thumbnail",
    "read_table",
    "table_bytes",
    "table_tag",
    "to_pil_image",
]

LOGGED_IMAGES_TAG = "mlflow.loggedImages"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
_KEY = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")
_THUMBNAIL = 256


def _pil() -> Any:
    try:
        import PIL.Image
    except ImportError as error:
        raise InvalidParameterValue(
            "Logging or loading images needs Pillow: pip install 'mltrack[images]'."
        ) from error
    return PIL.Image


def to_pil_image(image: Any) -> Any:
    """A PIL image from a PIL image or a numpy array (HxW, HxWx3 or HxWx4; ints 0-255, floats 0-1)."""
    import numpy as np

    pil = _pil()
    if isinstance(image, pil.Image):
        return image
    if not isinstance(image, np.ndarray):
        raise InvalidParameterValue(
            f"Unsupported image object type: {type(image).__name__}; log a numpy.ndarray or a "
            "PIL.Image.Image."
        )
    array = image
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidParameterValue(
            f"Invalid image shape {image.shape}: expected (H, W), (H, W, 3) or (H, W, 4)."
        )
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise InvalidParameterValue(
                f"Integer pixel values out of range [0, 255]: found {array.min()} to {array.max()}."
            )
    else:
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:  # as MLflow: rescale out-of-range floats to [0, 1]
            array = (array - low) / (high - low or 1.0)
        array = array * 255
    return pil.fromarray(array.astype(np.uint8))


def _png(image: Any, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_and_thumbnail(image: Any) -> tuple[bytes, bytes]:
    """The full image as PNG and a thumbnail (longest side 256 px at most) as WebP."""
    thumbnail = image.copy()
    thumbnail.thumbnail((_THUMBNAIL, _THUMBNAIL))
    if thumbnail.mode not in ("RGB", "RGBA", "L"):
        thumbnail = thumbnail.convert("RGBA")
    return _png(image), _png(thumbnail, "WEBP")


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """The image in the format the file name asks for (PNG when it names none)."""
    fmt = {"jpg": "JPEG", "jpeg": "JPEG"}.get(Path(artifact_file).suffix.lower().lstrip("."))
    suffix = Path(artifact_file).suffix.lstrip(".").upper()
    return _png(image, fmt or suffix or "PNG")


def check_image_arguments(
    artifact_file: str | None, key: str | None, step: int | None, timestamp: int | None
) -> None:
    """``log_image`` takes a static ``artifact_file``, or ``key`` (with step and timestamp)."""
    if artifact_file is not None and (key, step, timestamp) != (None, None, None):
        raise InvalidParameterValue(
            "log_image takes either artifact_file, or key with step and timestamp, not both."
        )
    if artifact_file is None and key is None:
        raise InvalidParameterValue(
            "log_image needs artifact_file (a static image) or key (an image per step)."
        )


def image_key_paths(key: str, step: int, timestamp: int) -> tuple[str, str]:
    """The artifact paths of a time-stepped image and its thumbnail, named as MLflow names them."""
    if not _KEY.match(key):
        raise InvalidParameterValue(
            "The `key` parameter may only contain alphanumerics, underscores (_), dashes (-), "
            f"periods (.), spaces ( ), and slashes (/); got {key!r}."
        )
    base = f"images/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    return f"{base}.png", f"{base}+compressed.webp"


def image_files(
    image: Any,
    artifact_file: str | None,
    key: str | None,
    step: int | None,
    timestamp: int | None,
) -> dict[str, bytes]:
    """What ``log_image`` writes, by artifact path: the file named, or for ``key`` the PNG of
    that step and its thumbnail (then the run also gets :data:`LOGGED_IMAGES_TAG`)."""
    check_image_arguments(artifact_file, key, step, timestamp)
    picture = to_pil_image(image)
    if artifact_file is not None:
        return {artifact_file: image_bytes(picture, artifact_file)}
    assert key is not None
    when = int(timestamp or time.time() * 1000)  # 0 means now, as in MLflow
    full, small = image_key_paths(key, int(step or 0), when)
    png, webp = png_and_thumbnail(picture)
    return {full: png, small: webp}


def _check_table_file(artifact_file: str) -> None:
    for char in "\"',:[]{}":
        if char in artifact_file:
            raise InvalidParameterValue(
                f"The artifact_file {artifact_file!r} contains a forbidden character: {char}"
            )
    if not artifact_file.endswith((".json", ".parquet")):
        raise InvalidParameterValue(
            f"Invalid artifact file path {artifact_file!r}: a table is logged as a .json or "
            ".parquet file."
        )


def as_frame(data: Any) -> pandas.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, dict):
        raise InvalidParameterValue("data must be a pandas.DataFrame or a dictionary.")
    try:
        return pd.DataFrame(data)
    except ValueError:  # all scalars: one row
        return pd.DataFrame([data])


def table_bytes(data: Any, artifact_file: str, existing: Path | None) -> bytes:
    """The table file's new content: ``data`` after the rows already in ``existing``."""
    import pandas as pd

    _check_table_file(artifact_file)
    frame = as_frame(data)
    if existing is not None and existing.is_file():
        frame = pd.concat([read_table(existing), frame], ignore_index=True)
    if artifact_file.endswith(".parquet"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    text = frame.to_json(orient="split", index=False, date_format="iso")
    return str(text).encode("utf-8")


def read_table(path: Path) -> pandas.DataFrame:
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(io.StringIO(path.read_text("utf-8")), orient="split")


def table_tag(current: str | None, artifact_file: str) -> str | None:
    """The new ``mlflow.loggedArtifacts`` value listing the table, or None when it is listed."""
    listed = json.loads(current or "[]")
    entry = {"path": artifact_file, "type": "table"}
    if entry in listed:
        return None
    return json.dumps([*listed, entry])


def open_image(path: Path) -> Any:
    """The image file as a loaded PIL image (the file is closed)."""
    with _pil().open(path) as image:
        image.load()
        return image
