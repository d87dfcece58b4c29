"""Kubernetes resource quantities ("500m", "3Gi", "1e3") as exact integers of milli-units.

kube-scheduler compares CPU in millicores and every other resource in whole units; keeping
all of them as milli-units (rounded up, as Kubernetes rounds) makes one comparison rule serve
CPU, memory, GPUs and extended resources alike.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_SUFFIX = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
# Kubernetes keeps quantities in int64 (k8s.io/apimachinery pkg/api/resource/quantity.go
# falls back to inf.Dec beyond); no node has 2^63 of anything, and bounding the exponent
# before computing 10**exp keeps `1e100000000` from taking minutes.
MAX_VALUE = Fraction(2**63)
_MAX_TEXT = 64
_MAX_EXPONENT = 40
_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exp>[+-]?\d+))?"
)


def parse(value: str | int | float) -> Fraction:
    """Parse a Kubernetes quantity.

    Args:
        value: a quantity string such as "250m", "1.5", "3Gi", "1e3", or a plain number.

    Returns:
        The exact value in base units (cores, bytes, devices).

    Raises:
        ValueError: the text is not a Kubernetes quantity, or its size is 2^63 or more.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a quantity: {value!r}")
        value = str(value)
    text = value.strip()
    match = _QUANTITY.fullmatch(text) if len(text) <= _MAX_TEXT else None
    if not match:
        raise ValueError(f"not a quantity: {value[:_MAX_TEXT]!r}")
    number = Fraction(match["num"])
    if match["exp"] is not None:
        exponent = int(match["exp"])
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"quantity {text!r} is out of range (at most 2^63)")
        result = number * Fraction(10) ** exponent
    else:
        result = number * _SUFFIX[match["suffix"] or ""]
    if abs(result) >= MAX_VALUE:
        raise ValueError(f"quantity {text!r} is out of range (at most 2^63)")
    return result


def milli(value: str | int | float) -> int:
    """The quantity in milli-units, rounded up as Kubernetes rounds requests."""
    return math.ceil(parse(value) * 1000)


def format_milli(resource: str, value: int) -> str:
    """Show a milli-unit amount the way people read it: cores, GiB, or a count."""
    if resource == "cpu":
        return f"{value / 1000:g}"
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        units = value / 1000
        for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if units >= size:
                return f"{units / size:.1f}{suffix}"
        return f"{units:g}"
    return f"{value / 1000:g}"
