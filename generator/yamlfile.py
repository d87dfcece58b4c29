"""Reading the YAML files users write (specs, FDLs) with one-line errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from generator.errors import SpecError


def read_yaml(path: Path) -> Any:
    """Read one YAML document, turning every failure into a one-line SpecError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        pass
    # Go's YAML parser (OSCAR's) accepts trailing tabs that PyYAML rejects; real FDLs have them.
    try:
        return yaml.safe_load(re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
