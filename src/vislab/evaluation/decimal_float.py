"""A JSON number's text to the nearest double, compiled by numba (the COCO reader's numbers:
coco_json.py).

Correct rounding, as Python's `float()` gives it, by the Eisel-Lemire algorithm (D. Lemire,
"Number parsing at a gigabyte per second", Software: Practice and Experience 51(8), 2021; N.
Noble, "Fast number parsing without fallback", 2023): the decimal significand w (up to 19
digits) times a 128-bit truncation of 5**q, with Clinger's exact fast path first (w < 2**53
and |q| <= 22: one correctly rounded operation on exact operands). Where the algorithm cannot
decide, or the number has more than 19 significant digits, `to_double` says so (its second
value False) and the caller asks Python's `float()`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

SMALLEST_POWER = -342  # below: 0.0 whatever the 19 digits
LARGEST_POWER = 308  # above: infinity


def _powers_of_five() -> np.ndarray:
    """(651, 2) uint64: for q in [-342, 308] the high and low words of 5**q scaled into
    [2**127, 2**128) (truncated; for q < 0 rounded up from the quotient)."""
    rows = []
    for q in range(SMALLEST_POWER, LARGEST_POWER + 1):
        if q < 0:
            power = 5**-q
            z = power.bit_length()  # 2**(z-1) < power < 2**z
            value = (1 << (z + 127 if q >= -27 else 2 * z + 128)) // power + 1
        else:
            value = 5**q
            value <<= max(0, 128 - value.bit_length())
        value >>= max(0, value.bit_length() - 128)
        rows.append((value >> 64, value & (2**64 - 1)))
    return np.array(rows, dtype=np.uint64)


POWERS = _powers_of_five()
EXACT_POWERS = np.array([10.0**k for k in range(23)])  # exact doubles
ONE = np.uint64(1)
LOW32 = np.uint64(0xFFFFFFFF)
ALL64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(cache=True, nogil=True)
def _product(a, b):
    """The 128-bit product of two uint64: (high, low)."""
    a_low, a_high = a & LOW32, a >> np.uint64(32)
    b_low, b_high = b & LOW32, b >> np.uint64(32)
    low_low = a_low * b_low
    low_high = a_low * b_high
    high_low = a_high * b_low
    middle = low_high + (low_low >> np.uint64(32)) + (high_low & LOW32)
    high = a_high * b_high + (middle >> np.uint64(32)) + (high_low >> np.uint64(32))
    return high, (middle << np.uint64(32)) | (low_low & LOW32)


@numba.njit(cache=True, nogil=True)
def _leading_zeros(w):
    """Of a nonzero uint64, by halves."""
    count = 0
    for width in (32, 16, 8, 4, 2, 1):
        if w >> np.uint64(64 - width) == 0:
            w <<= np.uint64(width)
            count += width
    return count


@numba.njit(cache=True, nogil=True)
def _eisel_lemire(w, q):
    """(the double nearest to w * 10**q, decided), w > 0 a uint64."""
    if q < SMALLEST_POWER:
        return 0.0, True
    if q > LARGEST_POWER:
        return math.inf, True
    shift = _leading_zeros(w)
    w = w << np.uint64(shift)
    row = q - SMALLEST_POWER
    high, low = _product(w, POWERS[row, 0])
    mask = np.uint64(0x1FF)  # the bits below the 55 kept
    if high & mask == mask:  # the truncated power may matter: take its low word too
        second_high, _ = _product(w, POWERS[row, 1])
        low = low + second_high
        if second_high > low:
            high += ONE
        if low == ALL64 and (q < -27 or q > 55):
            return 0.0, False
    upper = np.int64(high >> np.uint64(63))
    mantissa = high >> np.uint64(upper + 9)
    power2 = (((152170 + 65536) * q) >> 16) + 63 + upper - shift + 1023
    if power2 <= 0:  # subnormal
        if -power2 + 1 >= 64:
            return 0.0, True
        mantissa >>= np.uint64(-power2 + 1)
        mantissa += mantissa & ONE
        mantissa >>= ONE
        return math.ldexp(float(mantissa), -1074), True  # exact: at most 2**52 * 2**-1074
    if (
        low <= ONE
        and -4 <= q <= 23
        and mantissa & np.uint64(3) == ONE
        and (mantissa << np.uint64(upper + 9)) == high
    ):
        mantissa &= ~ONE  # exactly halfway: to even
    mantissa += mantissa & ONE
    mantissa >>= ONE
    if mantissa >= (np.uint64(2) << np.uint64(52)):
        mantissa = ONE << np.uint64(52)
        power2 += 1
    if power2 >= 0x7FF:
        return math.inf, True
    return math.ldexp(float(mantissa), power2 - 1075), True  # exact: 53 bits, a power of 2


@numba.njit(cache=True, nogil=True)
def to_double(w, q, negative):
    """(the double nearest to ±w * 10**q, decided): w a uint64 of at most 19 digits."""
    if w == 0:
        value = 0.0
    elif w < (ONE << np.uint64(53)) and -22 <= q <= 22:
        value = float(w) * EXACT_POWERS[q] if q >= 0 else float(w) / EXACT_POWERS[-q]
    else:
        value, decided = _eisel_lemire(w, q)
        if not decided:
            return 0.0, False
    return (-value if negative else value), True


@numba.njit(cache=True, nogil=True)
def _sign(text, start):
    """(negative, where the digits start) of the number at start; -1 where no JSON number
    starts there (no digit, or a leading zero before another digit)."""
    n, position = len(text), start
    negative = position < n and text[position] == 45  # -
    if negative:
        position += 1
    if position >= n or not 48 <= text[position] <= 57:
        return negative, -1
    if text[position] == 48 and position + 1 < n and 48 <= text[position + 1] <= 57:
        return negative, -1
    return negative, position


@numba.njit(cache=True, nogil=True)
def _result(w, exponent, negative, integer, digits, end):
    """`read_number`'s answer for ±w * 10**exponent ending at `end`."""
    value, decided = to_double(w, exponent, negative)
    if not decided:
        return 0.0, end, 3, 0
    if integer and digits <= 18:
        return value, end, 1, -np.int64(w) if negative else np.int64(w)
    return value, end, 2, 0


@numba.njit(cache=True, nogil=True)
def _careful(text, start):
    """`read_number` digit by digit, counting the significant ones (no more than 19 kept)."""
    n = len(text)
    negative, position = _sign(text, start)
    if position < 0:
        return 0.0, start, 0, 0
    w, digits, exponent, integer = np.uint64(0), 0, 0, True
    while position < n and 48 <= text[position] <= 57:
        if digits < 19:
            w = w * np.uint64(10) + np.uint64(text[position] - 48)
            if w > 0:
                digits += 1
        else:
            digits += 1
            exponent += 1
        position += 1
    if position < n and text[position] == 46:  # .
        integer = False
        position += 1
        if position >= n or not 48 <= text[position] <= 57:
            return 0.0, start, 0, 0
        while position < n and 48 <= text[position] <= 57:
            if digits < 19:
                w = w * np.uint64(10) + np.uint64(text[position] - 48)
                exponent -= 1
                if w > 0:
                    digits += 1
            else:
                digits += 1
            position += 1
    if position < n and (text[position] == 101 or text[position] == 69):  # e E
        integer = False
        position += 1
        sign = 1
        if position < n and (text[position] == 43 or text[position] == 45):
            sign = -1 if text[position] == 45 else 1
            position += 1
        if position >= n or not 48 <= text[position] <= 57:
            return 0.0, start, 0, 0
        written = 0
        while position < n and 48 <= text[position] <= 57:
            if written < 100000:
                written = written * 10 + (text[position] - 48)
            position += 1
        exponent += sign * written
    if digits > 19:
        return 0.0, position, 3, 0
    return _result(w, exponent, negative, integer, digits, position)


@numba.njit(cache=True, nogil=True)
def read_number(text, start):
    """The JSON number at text[start:] (uint8): (value, end, kind, whole) with kind 0 not a
    number, 1 an integer of at most 18 digits (no fraction, no exponent; `whole` is it), 2
    another number, 3 a number `to_double` could not decide (the caller asks Python for
    text[start:end])."""
    n = len(text)
    negative, position = _sign(text, start)
    if position < 0:
        return 0.0, start, 0, 0
    w, first = np.uint64(0), position
    while position < n and 48 <= text[position] <= 57:
        w = w * np.uint64(10) + np.uint64(text[position] - 48)
        position += 1
    digits, integer, exponent = position - first, True, 0
    if position < n and text[position] == 46:  # .
        integer = False
        position += 1
        fraction = position
        while position < n and 48 <= text[position] <= 57:
            w = w * np.uint64(10) + np.uint64(text[position] - 48)
            position += 1
        if position == fraction:
            return 0.0, start, 0, 0
        digits += position - fraction
        exponent = fraction - position
    if digits > 19 or (position < n and (text[position] == 101 or text[position] == 69)):
        return _careful(text, start)  # many digits (leading zeros?), or an exponent
    return _result(w, exponent, negative, integer, digits, position)
