"""A plain YAML scalar as OSCAR's FDL parser turns it into text.

oscar-cli reads an FDL with goccy/go-yaml v1.9.8 into OSCAR's service type
(oscar-cli pkg/service/service.go `ReadFDL`), whose variables are a map of strings
(oscar pkg/types/service.go `Environment.Vars`). Go's decoder first types a plain scalar
(goccy token/token.go `New`, `getNumberStat`; ast/ast.go `Integer`, `Float`), then prints
it into the string (decode.go `convertValue`: `fmt.Sprint`). So `yes` stays "yes" (YAML 1.2
has no such boolean), `True` becomes "true", `1.0` becomes "1", `0x10` "16", `1_000` "1000".
Quoted scalars are text as written.
"""

from __future__ import annotations

import math
from decimal import Decimal

_NULL = frozenset({"null", "Null", "NULL", "~", ""})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INF = {".inf": "+Inf", ".Inf": "+Inf", ".INF": "+Inf", "-.inf": "-Inf", "-.Inf": "-Inf",
        "-.INF": "-Inf"}  # fmt: skip
_NAN = frozenset({".nan", ".NaN", ".NAN"})
_HEX = frozenset("abcdefABCDEF")
_UINT64 = 2**64 - 1
_INT64 = 2**63 - 1


def _number_kind(text: str) -> str | None:
    """goccy's getNumberStat: "float", "binary", "octal", "hex", "decimal" or None."""
    if text in ("", "-", ".", "+", "_") or text[0] == "_":
        return None
    dot = exponent = False
    negative = text[0] == "-"
    at = 2 if negative else 1  # where a base letter (0x, 0o, 0b) may stand
    hexadecimal = (len(text) > 2 and text[:2] == "0x") or (
        len(text) > 3 and negative and text[1:3] == "0x"
    )
    for i, c in enumerate(text):
        if c in "xo" and i == at:
            continue
        if c.isascii() and c.isdigit():
            continue
        if c in _HEX:
            if hexadecimal or (c == "b" and i == at):
                continue
            if c in "eE" and dot:
                exponent = True
                continue
        elif c == ".":
            if dot:
                return None
            dot = True
            continue
        elif c in "-+":
            if i == 0 or exponent:
                continue
        elif c == "_":
            continue
        return None
    if dot:
        return "float"
    for kind, prefix in (("binary", "0b"), ("hex", "0x"), ("octal", "0o")):
        if text.startswith(prefix) or text.startswith("-" + prefix):
            return kind
    if len(text) > 1 and (text[0] == "0" or (text[0] == "-" and text[1] == "0")):
        return "octal"
    return "decimal"


def _parse_int(digits: str, base: int, signed: bool) -> int:
    """Go's strconv.ParseInt/ParseUint as goccy calls them, errors ignored: a syntax error
    gives 0, a value out of range the limit."""
    body = digits[1:] if digits[:1] in "+-" else digits
    if not body or any(c not in "0123456789abcdef"[:base] for c in body.lower()):
        return 0
    value = int(digits, base)
    if not signed:
        return value if value <= _UINT64 else _UINT64
    return max(-_INT64 - 1, min(_INT64, value))


def _integer(text: str, kind: str) -> int:
    """goccy ast.Integer: the text without underscores, in its base."""
    value = text.replace("_", "")
    negative = value[0] == "-"
    if kind in ("binary", "hex"):
        skip = 3 if negative else 2
        base = 2 if kind == "binary" else 16
        return _parse_int(("-" if negative else "") + value[skip:], base, negative)
    if kind == "octal":
        skip = 1
        if negative:
            skip += 2 if len(value) > 2 and value[2] == "o" else 1
        elif value[1] == "o":
            skip += 1
        return _parse_int(("-" if negative else "") + value[skip:], 8, negative)
    return _parse_int(value, 10, value[0] in "+-")


def go_float(value: float) -> str:
    """Go's fmt.Sprint of a float64: shortest digits, exponent form below 1e-4 and from 1e6
    (strconv ftoa.go: %g with the shortest precision uses eprec 6)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    _, digit_tuple, exp = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exp += len("".join(map(str, digit_tuple))) - len(digits)
    point = len(digits) + exp  # digits before the decimal point
    x = point - 1
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _parse_float(text: str) -> float:
    """Go's strconv.ParseFloat, errors ignored (a syntax error gives 0)."""
    try:
        return float(text)
    except ValueError:
        return 0.0


def plain_text(text: str) -> str:
    """The Go string a plain (unquoted) YAML scalar becomes in a `map[string]string`."""
    if text in _NULL:
        return ""
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    if text in _INF:
        return _INF[text]
    if text in _NAN:
        return "NaN"
    kind = _number_kind(text)
    if kind is None:
        return text
    if kind == "float":
        return go_float(_parse_float(text.replace("_", "")))
    return str(_integer(text, kind))


def plain_bool(text: str) -> bool | None:
    """A plain scalar decoded into a Go bool: True, False, or None (not a boolean for Go)."""
    return True if text in _TRUE else False if text in _FALSE else None
