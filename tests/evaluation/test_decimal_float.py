"""The compiled JSON number reading (decimal_float.py) against Python's `float()` and `int()`,
bit for bit, on many random and hard numbers, and against the JSON grammar."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest

from vislab.evaluation.decimal_float import read_number


def _read(text: str):
    return read_number(np.frombuffer(text.encode(), np.uint8), 0)


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _random_double(rng: random.Random) -> float:
    while True:
        value = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if value == value and abs(value) != float("inf"):
            return value


def _halfway_integer(rng: random.Random) -> str:
    """An integer exactly halfway between two doubles, of at most 19 digits, sometimes with
    its trailing zeros written as an exponent (rounding to even is what decides it)."""
    power = rng.randint(0, 6)
    odd = 5**power * (2 * rng.randint(2**52 // 5**power + 1, 2**53 // 5**power - 1) + 1)
    assert odd.bit_length() == 54 and odd % 2  # 54 significant bits: halfway
    value = odd * 2 ** rng.randint(0, 9)
    zeros = len(str(value)) - len(str(value).rstrip("0"))
    shown = rng.randint(0, zeros)
    return str(value // 10**shown) + (f"e{shown}" if shown else "")


def _cases(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    cases = []
    for n in range(count):
        kind = n % 7
        if kind == 0:  # any double, shortest repr (up to 17 digits, any exponent, subnormals)
            text = repr(_random_double(rng))
        elif kind == 1:  # box coordinates as json.dumps writes them
            text = json.dumps(rng.uniform(0, 2000))
        elif kind == 2:  # float32 scores widened
            text = repr(float(np.float32(rng.random())))
        elif kind == 3:  # up to 19 digits times any power of ten, overflow and underflow too
            text = f"{rng.randint(1, 10 ** rng.randint(1, 19) - 1)}e{rng.randint(-360, 330)}"
        elif kind == 4:  # digits with the point anywhere, leading zeros after it
            digits = str(rng.randint(1, 10 ** rng.randint(1, 19) - 1))
            point = rng.randint(1, len(digits))
            text = digits[:point] + "." + "0" * rng.randint(0, 3) + digits[point:] + "1"
        elif kind == 5:
            text = _halfway_integer(rng)
        else:  # more than 19 significant digits: the careful path or Python
            text = f"{rng.randint(10**19, 10**25)}e{rng.randint(-40, 40)}"
        cases.append(("-" if rng.random() < 0.3 and not text.startswith("-") else "") + text)
    return cases


@pytest.mark.parametrize("seed", range(4))
def test_numbers_are_read_to_the_double_python_reads(seed):
    """Left to Python (kind 3): the numbers of over 19 significant digits, and only those."""
    for text in _cases(seed, 25_000):
        value, end, kind, whole = _read(text)
        assert kind in (1, 2, 3) and end == len(text), text
        digits = text.lstrip("-").lower().split("e")[0].replace(".", "").lstrip("0")
        assert (kind == 3) == (len(digits) > 19), text
        if kind == 3:
            continue
        assert _bits(value) == _bits(float(text)), text
        if kind == 1:
            assert whole == int(text), text


def test_hard_numbers():
    """Rounding boundaries, the smallest and largest doubles, halfway cases."""
    hard = [
        "9007199254740993",  # 2**53 + 1: halfway, to even (down)
        "9007199254740995",  # to even (up)
        "1e23",
        "8.98846567431158e307",
        "1.7976931348623157e308",
        "1.7976931348623158e308",  # rounds to the largest double
        "1.7976931348623159e308",  # to infinity
        "2.2250738585072011e-308",
        "2.2250738585072014e-308",
        "4.9406564584124654e-324",
        "2.4703282292062327e-324",  # just below half the smallest subnormal: 0
        "2.4703282292062328e-324",  # just above: the smallest subnormal
        "0.1",
        "0.30000000000000004",
        "123456789012345678",
        "1e-400",
        "1e400",
        "0",
        "-0",
        "-0.0",
        "0e10",
        "7.0e-10",
        "1E+2",
    ]
    for text in hard:
        value, end, kind, _ = _read(text)
        assert end == len(text) and kind in (1, 2), text
        assert _bits(value) == _bits(float(text)), text


@pytest.mark.parametrize(
    "text", ["01", "1.", ".5", "-", "+1", "1e", "1e+", "--1", "-.5", "0x10", "1.e5", "1e5.5"]
)
def test_what_json_does_not_call_a_number_is_refused(text):
    with pytest.raises(json.JSONDecodeError):
        json.loads(f"[{text}]")
    value, end, kind, _ = _read(text)
    assert kind == 0 or end < len(text), text  # not a number, or a number that ends before


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "", " 1"])
def test_what_python_accepts_beyond_json_is_not_a_number(text):
    assert _read(text)[2] == 0


def test_a_number_ends_where_json_says():
    for text, number in [("12,", "12"), ("1.5]", "1.5"), ("-3e2}", "-3e2"), ("7 ", "7")]:
        value, end, kind, _ = _read(text)
        assert end == len(number) and value == float(number)
