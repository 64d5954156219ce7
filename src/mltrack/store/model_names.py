"""Registered model names: the version tag grammar (built and parsed here only), stages, aliases."""

from __future__ import annotations

import re
from typing import Any

from mltrack.exceptions import InvalidParameterValue

__all__ = [
    "STAGES",
    "TAG_PREFIX",
    "canonical_stage",
    "decode_name",
    "encode_name",
    "model_tag_prefix",
    "parse_version_tag",
    "validate_alias",
    "validate_model_name",
    "version_number",
    "version_tag",
]

TAG_PREFIX = "mltrack"
STAGES = ("None", "Staging", "Production", "Archived")
_TAG = re.compile(r"^mltrack/(?P<name>[^/]+)/v(?P<version>[1-9][0-9]*)$")
_ALIAS = re.compile(r"^[\w\-]+$")
_MAX_NAME = 256
_MAX_ENCODED = 255  # one file name (.mltrack/models/<name>/) and one ref component


def encode_name(name: str) -> str:
    """A model name as one git ref component: percent-encode all git forbids (and '%')."""
    out = []
    for index, char in enumerate(name):
        if (char.isascii() and (char.isalnum() or char in "-_")) or (
            char == "."
            and 0 < index < len(name) - 1
            and name[index - 1] != "."
            and name[index + 1] != "."
        ):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    encoded = "".join(out)
    if encoded.endswith(".lock"):
        encoded = encoded[: -len(".lock")] + "%2Elock"
    return encoded


def decode_name(encoded: str) -> str:
    from urllib.parse import unquote

    return unquote(encoded, errors="strict")


def model_tag_prefix(name: str) -> str:
    """The prefix every version tag of model ``name`` starts with (ends in ``/``)."""
    return f"{TAG_PREFIX}/{encode_name(name)}/"


def version_tag(name: str, version: int) -> str:
    return f"{model_tag_prefix(name)}v{version}"


def parse_version_tag(tag: str) -> tuple[str, int] | None:
    match = _TAG.fullmatch(tag)
    if match is None:
        return None
    return decode_name(match.group("name")), int(match.group("version"))


def validate_model_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValue(
            f"Invalid registered model name {name!r}: it must be a non-empty string."
        )
    if len(name) > _MAX_NAME:
        raise InvalidParameterValue(
            f"Invalid registered model name: longer than {_MAX_NAME} characters."
        )
    if re.search(r"[\x00-\x1f\x7f]", name):
        raise InvalidParameterValue(
            f"Invalid registered model name {name!r}: control characters are not allowed."
        )
    try:
        encoded = encode_name(name)
    except UnicodeEncodeError:
        raise InvalidParameterValue(
            f"Invalid registered model name {name!r}: it is not valid Unicode (a lone surrogate)."
        ) from None
    if len(encoded) > _MAX_ENCODED:
        raise InvalidParameterValue(
            f"Invalid registered model name {name[:40]!r}…: it is stored as a file and tag name "
            f"of {len(encoded)} bytes, over the limit of {_MAX_ENCODED} (characters other than "
            "ASCII letters, digits, '-', '_' and '.' take 3 bytes per UTF-8 byte). Choose a "
            "shorter name."
        )
    return name


def canonical_stage(stage: str) -> str:
    for known in STAGES:
        if known.lower() == str(stage).lower():
            return known
    raise InvalidParameterValue(f"Invalid stage {stage!r}: use one of {', '.join(STAGES)}.")


def validate_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or len(alias) > 255:
        raise InvalidParameterValue(
            f"Invalid alias {alias!r}: use letters, digits, '_' and '-' (at most 255)."
        )
    if alias.lower() == "latest" or re.match(r"^[vV]\d+$", alias):
        raise InvalidParameterValue(f"Alias {alias!r} is reserved (it looks like a version).")
    return alias


def version_number(version: Any) -> int:
    try:
        number = int(str(version))
    except ValueError:
        raise InvalidParameterValue(
            f"Invalid model version {version!r}: versions are positive integers."
        ) from None
    if number < 1:
        raise InvalidParameterValue(
            f"Invalid model version {version!r}: versions are positive integers."
        )
    return number
