"""Datasets for ``log_input``: ``mltrack.data.from_pandas`` and ``from_numpy``.

A dataset records a name, a digest of its content, where it came from (its
source) and its schema, in MLflow's representation (``source`` and ``schema``
are JSON strings), so a run says exactly which data trained it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mltrack.entities import Dataset as DatasetEntity
from mltrack.exceptions import InvalidParameterValue
from mltrack.tracking.context import current_user, source_name

__all__ = ["Dataset", "DatasetSource", "NumpyDataset", "PandasDataset", "from_numpy", "from_pandas"]

_MAX_ROWS_FOR_DIGEST = 10000


class DatasetSource:
    """Where a dataset came from: a file or URL, or the code that built it."""

    def __init__(self, source_type: str, description: dict[str, Any]) -> None:
        self.source_type = source_type
        self.description = description

    def to_json(self) -> str:
        return json.dumps(self.description, sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.description)

    @classmethod
    def resolve(cls, source: Any) -> DatasetSource:
        if source is None:
            tags = {
                "mlflow.user": current_user(),
                "mlflow.source.name": source_name(),
                "mlflow.source.type": "LOCAL",
            }
            return cls("code", {"tags": tags})
        if isinstance(source, DatasetSource):
            return source
        text = str(source)
        if text.startswith(("http://", "https://")):
            return cls("http", {"url": text})
        if "://" in text and not text.startswith("file://"):
            return cls(text.split("://", 1)[0], {"uri": text})
        return cls("local", {"uri": text})


def _digest(parts: list[bytes]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for part in parts:
        md5.update(part)
    return md5.hexdigest()[:8]


class Dataset:
    """Common behaviour of pandas and numpy datasets."""

    def __init__(self, name: str | None, digest: str | None, source: DatasetSource) -> None:
        self._name = name
        self._digest = digest
        self.source = source

    @property
    def name(self) -> str:
        return self._name or "dataset"

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = self._compute_digest()
        return self._digest

    def _compute_digest(self) -> str:
        raise NotImplementedError

    @property
    def schema(self) -> Any:
        raise NotImplementedError

    @property
    def profile(self) -> dict[str, Any]:
        raise NotImplementedError

    def _schema_json(self) -> str | None:
        raise NotImplementedError

    def to_entity(self) -> DatasetEntity:
        return DatasetEntity(
            name=self.name,
            digest=self.digest,
            source_type=self.source.source_type,
            source=self.source.to_json(),
            schema=self._schema_json(),
            profile=json.dumps(self.profile, sort_keys=True),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_entity().to_dict()


class PandasDataset(Dataset):
    def __init__(
        self,
        df: Any,
        source: DatasetSource,
        targets: str | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: str | None = None,
    ) -> None:
        for column, role in ((targets, "targets"), (predictions, "predictions")):
            if column is not None and column not in df.columns:
                raise InvalidParameterValue(
                    f"The {role} column {column!r} is not a column of the DataFrame "
                    f"({', '.join(map(str, df.columns))})."
                )
        super().__init__(name, digest, source)
        self.df = df
        self.targets = targets
        self.predictions = predictions

    def _compute_digest(self) -> str:
        import pandas as pd

        head = self.df.head(_MAX_ROWS_FOR_DIGEST)
        usable = [
            c
            for c in head.columns
            if pd.api.types.is_numeric_dtype(head[c]) or pd.api.types.is_string_dtype(head[c])
        ]
        hashed = pd.util.hash_pandas_object(head[usable], index=False).to_numpy().tobytes()
        return _digest(
            [hashed, str(len(self.df)).encode(), *(str(c).encode() for c in self.df.columns)]
        )

    @property
    def schema(self) -> Any:
        from mltrack.types import infer_schema

        return infer_schema(self.df)

    def _schema_json(self) -> str | None:
        try:
            return json.dumps({"mlflow_colspec": self.schema.to_dict()})
        except InvalidParameterValue:
            return None

    @property
    def profile(self) -> dict[str, Any]:
        return {"num_rows": len(self.df), "num_elements": int(self.df.size)}


class NumpyDataset(Dataset):
    def __init__(
        self,
        features: Any,
        source: DatasetSource,
        targets: Any = None,
        name: str | None = None,
        digest: str | None = None,
    ) -> None:
        super().__init__(name, digest, source)
        self.features = features
        self.targets = targets

    def _arrays(self) -> list[Any]:
        import numpy as np

        arrays = [np.asarray(self.features)]
        if self.targets is not None:
            arrays.append(np.asarray(self.targets))
        return arrays

    def _compute_digest(self) -> str:
        parts = []
        for array in self._arrays():
            flat = array.reshape(len(array), -1)[:_MAX_ROWS_FOR_DIGEST] if array.ndim else array
            parts += [
                flat.tobytes() if flat.dtype.kind not in "OUS" else repr(flat.tolist()).encode(),
                str(array.shape).encode(),
            ]
        return _digest(parts)

    @property
    def schema(self) -> Any:
        from mltrack.types import infer_schema

        return infer_schema(self._arrays()[0])

    def _schema_json(self) -> str | None:
        from mltrack.types import infer_schema

        spec = {"features": infer_schema(self._arrays()[0]).to_json()}
        if self.targets is not None:
            spec["targets"] = infer_schema(self._arrays()[1]).to_json()
        return json.dumps({"mlflow_tensorspec": spec})

    @property
    def profile(self) -> dict[str, Any]:
        arrays = self._arrays()
        out = {
            "features_shape": list(arrays[0].shape),
            "features_size": int(arrays[0].size),
            "features_nbytes": int(arrays[0].nbytes),
        }
        if len(arrays) > 1:
            out.update(
                targets_shape=list(arrays[1].shape),
                targets_size=int(arrays[1].size),
                targets_nbytes=int(arrays[1].nbytes),
            )
        return out


def from_pandas(
    df: Any,
    source: Any = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset from a pandas DataFrame (MLflow's ``mlflow.data.from_pandas``)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameterValue(
            f"from_pandas takes a pandas DataFrame, not {type(df).__name__}."
        )
    return PandasDataset(df, DatasetSource.resolve(source), targets, name, digest, predictions)


def from_numpy(
    features: Any,
    source: Any = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    """A dataset from numpy arrays (MLflow's ``mlflow.data.from_numpy``)."""
    return NumpyDataset(features, DatasetSource.resolve(source), targets, name, digest)
