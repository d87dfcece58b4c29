from fractions import Fraction

import pytest

from generator.spec import quantity


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1", 1000), ("1.5", 1500), ("500m", 500), ("0.1", 100), ("250u", 1), ("3n", 1),
        ("1k", 1_000_000), ("2M", 2 * 10**9), ("1G", 10**12), ("1T", 10**15), ("1P", 10**18),
        ("1E", 10**21), ("1Ki", 1024_000), ("3Gi", 3 * 2**30 * 1000), ("1Mi", 2**20 * 1000),
        ("1Ti", 2**40 * 1000), ("1Pi", 2**50 * 1000), ("1Ei", 2**60 * 1000), ("1e3", 10**6),
        ("1E3", 10**6), ("12e-1", 1200), (".5", 500), ("+2", 2000), (2, 2000), (0.25, 250),
    ],
)  # fmt: skip
def test_every_kubernetes_unit(text: str | int | float, milli: int) -> None:
    assert quantity.milli(text) == milli


def test_rounds_up_like_kubernetes() -> None:
    assert quantity.milli("1n") == 1
    assert quantity.parse("1.0001") == Fraction(10001, 10000)


@pytest.mark.parametrize(
    "bad", ["", "1.0.0", "3GB", "Gi", "abc", "1 Gi", "--1", float("nan"), True]
)
def test_rejects_non_quantities(bad: object) -> None:
    with pytest.raises(ValueError):
        quantity.parse(bad)  # type: ignore[arg-type]


def test_format_for_people() -> None:
    assert quantity.format_milli("cpu", 1500) == "1.5"
    assert quantity.format_milli("cpu", 250) == "0.25"
    assert quantity.format_milli("cpu", 2000) == "2"
    assert quantity.format_milli("memory", 3 * 2**30 * 1000) == "3.0Gi"
    assert quantity.format_milli("nvidia.com/gpu", 1000) == "1"
