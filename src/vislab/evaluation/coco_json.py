"""COCO files read straight from their bytes into arrays, compiled by numba (the point-only
mAP's reading: detection_arrays.read_arrays).

The JSON grammar is followed to the letter (RFC 8259: strings with their escapes and valid
UTF-8, numbers, literals, nesting); the fields vislab uses are taken, every other value is
checked and skipped. Anything the quick reading is not sure of — a field of another kind than
expected (an id that is not an integer, a box that is not four numbers, iscrowd not an
integer), a field given twice, a required field missing, a key with an escape or a letter
outside printable ASCII, nesting deeper than 256, a malformed file — makes it give up
(status not 0): the checked reading then reads the file again and names the problem. Numbers
are correctly rounded (decimal_float.py); the rare one it cannot decide is returned as its
place in the text, for Python's `float()`.
"""

from __future__ import annotations

import numba
import numpy as np

from vislab.evaluation.decimal_float import read_number

FINE, GAVE_UP = 0, 1
MAX_DEPTH = 256


def _word(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8).copy()


IMAGES, ANNOTATIONS, CATEGORIES = _word("images"), _word("annotations"), _word("categories")
ID, NAME, IMAGE_ID = _word("id"), _word("name"), _word("image_id")
CATEGORY_ID = _word("category_id")
BBOX, SCORE, AREA, ISCROWD = _word("bbox"), _word("score"), _word("area"), _word("iscrowd")
TRUE, FALSE, NULL = _word("true"), _word("false"), _word("null")


@numba.njit(cache=True, nogil=True)
def _space(text, p):
    """The first position at or after p that is not JSON whitespace."""
    n = len(text)
    while p < n and (text[p] == 32 or text[p] == 10 or text[p] == 13 or text[p] == 9):
        p += 1
    return p


@numba.njit(cache=True, nogil=True)
def _is(text, start, end, word):
    if end - start != len(word):
        return False
    for k in range(len(word)):  # noqa: SIM110 (compiled: no generators)
        if text[start + k] != word[k]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _continuations(text, p, count, low, high):
    """p after `count` UTF-8 continuation bytes (the first within [low, high]), or -1."""
    if p + count > len(text) or not low <= text[p] <= high:
        return -1
    for k in range(1, count):
        if not 0x80 <= text[p + k] <= 0xBF:
            return -1
    return p + count


@numba.njit(cache=True, nogil=True)
def _character(text, p):
    """After the (non-ASCII) UTF-8 character at p, or -1 where it is not one."""
    lead = text[p]
    if 0xC2 <= lead <= 0xDF:
        return _continuations(text, p + 1, 1, 0x80, 0xBF)
    if 0xE0 <= lead <= 0xEF:
        low, high = (0xA0 if lead == 0xE0 else 0x80), (0x9F if lead == 0xED else 0xBF)
        return _continuations(text, p + 1, 2, low, high)
    if 0xF0 <= lead <= 0xF4:
        low, high = (0x90 if lead == 0xF0 else 0x80), (0x8F if lead == 0xF4 else 0xBF)
        return _continuations(text, p + 1, 3, low, high)
    return -1


@numba.njit(cache=True, nogil=True)
def _string(text, p):
    """(after the string at p, escaped): -1 where it is not a JSON string."""
    n = len(text)
    if p >= n or text[p] != 34:
        return -1, False
    p += 1
    escaped = False
    while p < n:
        c = text[p]
        if c == 34:
            return p + 1, escaped
        if c < 32:
            return -1, False
        if c == 92:  # backslash
            escaped = True
            if p + 1 >= n:
                return -1, False
            e = text[p + 1]
            if e == 117:  # \uXXXX
                if p + 6 > n:
                    return -1, False
                for k in range(p + 2, p + 6):
                    h = text[k]
                    if not (48 <= h <= 57 or 65 <= h <= 70 or 97 <= h <= 102):
                        return -1, False
                p += 6
            elif e in (34, 92, 47, 98, 102, 110, 114, 116):
                p += 2
            else:
                return -1, False
        elif c < 128:
            p += 1
        else:
            p = _character(text, p)
            if p < 0:
                return -1, False
    return -1, False


@numba.njit(cache=True, nogil=True)
def _scalar(text, p):
    """After the string, number or literal at p, or -1."""
    c = text[p]
    if c == 34:
        return _string(text, p)[0]
    if c == 116 or c == 102 or c == 110:  # true false null
        for word in (TRUE, FALSE, NULL):
            if word[0] == c:
                end = p + len(word)
                return end if end <= len(text) and _is(text, p, end, word) else -1
    _, end, kind, _ = read_number(text, p)
    return -1 if kind == 0 else end


@numba.njit(cache=True, nogil=True)
def _skip(text, p):
    """After the JSON value at p (any nesting), or -1 where it is not one."""
    if p >= len(text):
        return -1
    if text[p] != 91 and text[p] != 123:
        return _scalar(text, p)
    stack = np.empty(MAX_DEPTH, dtype=np.uint8)  # the open brackets
    depth, n = 0, len(text)
    expect_value = True
    while True:
        p = _space(text, p)
        if p >= n:
            return -1
        c = text[p]
        if expect_value:
            if c == 91 or c == 123:  # [ {
                if depth == MAX_DEPTH:
                    return -1
                stack[depth] = c
                depth += 1
                p = _space(text, p + 1)
                if p < n and text[p] == c + 2:  # empty: ] or }
                    depth -= 1
                    p += 1
                    expect_value = False
                elif c == 123:
                    p, _ = _string(text, p)
                    p = _space(text, p) if p >= 0 else -1
                    if p < 0 or p >= n or text[p] != 58:  # :
                        return -1
                    p += 1
                continue
            p = _scalar(text, p)
            if p < 0:
                return -1
            expect_value = False
        else:
            if depth == 0:
                return p
            if c == 44:  # ,
                p += 1
                if stack[depth - 1] == 123:
                    p, _ = _string(text, _space(text, p))
                    p = _space(text, p) if p >= 0 else -1
                    if p < 0 or p >= n or text[p] != 58:
                        return -1
                    p += 1
                expect_value = True
            elif c == stack[depth - 1] + 2:
                depth -= 1
                p += 1
            else:
                return -1
        if depth == 0 and not expect_value:
            return p


@numba.njit(cache=True, nogil=True)
def _key(text, p):
    """(key start, key end, position after the colon) of the member at p; start -1 where it
    is not a plain key (printable ASCII, no escapes)."""
    n = len(text)
    if p >= n or text[p] != 34:
        return -1, -1, -1
    end = p + 1
    while end < n and text[end] != 34:
        if not 32 <= text[end] < 127 or text[end] == 92:
            return -1, -1, -1
        end += 1
    if end >= n:
        return -1, -1, -1
    end += 1
    after = _space(text, end)
    if after >= len(text) or text[after] != 58:
        return -1, -1, -1
    return p + 1, end - 1, _space(text, after + 1)


@numba.njit(cache=True, nogil=True)
def _next_member(text, p, close):
    """After a member or element: (position of the next one, more) or (-1, False)."""
    p = _space(text, p)
    if p < len(text) and text[p] == 44:
        return _space(text, p + 1), True
    if p < len(text) and text[p] == close:
        return p + 1, False
    return -1, False


@numba.njit(cache=True, nogil=True)
def _opened(text, p, bracket):
    """(position of the first member, empty) after the bracket at p, or (-1, False)."""
    p = _space(text, p)
    if p >= len(text) or text[p] != bracket:
        return -1, False
    p = _space(text, p + 1)
    if p < len(text) and text[p] == bracket + 2:
        return p + 1, True
    return p, False


@numba.njit(cache=True, nogil=True)
def _number(text, p, values, row, column, undecided, count):
    """The number at p into values[row, column] (or its place into `undecided`): (end, count
    of undecided) or (-1, count)."""
    value, end, kind, _ = read_number(text, p)
    if kind == 0:
        return -1, count
    if kind == 3:
        if count == len(undecided):
            return -1, count  # no room: more than the room made for them (never in practice)
        undecided[count, 0], undecided[count, 1] = row * values.shape[1] + column, p
        undecided[count, 2] = end
        count += 1
    values[row, column] = value
    return end, count


@numba.njit(cache=True, nogil=True)
def _grown(array, rows):
    if rows < len(array):
        return array
    bigger = np.empty((2 * len(array) + 16,) + array.shape[1:], dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


@numba.njit(cache=True, nogil=True)
def read_boxes(text, p, scored):
    """The array of annotations (scored False) or detections (scored True) at p: (end,
    ids (n, 3): image_id, category_id, iscrowd; values (n, 5): the box and the area (NaN where
    none) or the score; undecided (k, 3): flat index into values, start, end). end -1: gave
    up."""
    ids = np.zeros((1024, 3), dtype=np.int64)
    values = np.empty((1024, 5), dtype=np.float64)
    undecided = np.empty((64, 3), dtype=np.int64)
    count, row = 0, 0
    p, empty = _opened(text, p, 91)
    if p < 0 or empty:
        return p, ids[:0], values[:0], undecided[:0]
    more = True
    while more:
        if row == len(ids):
            ids, values = _grown(ids, row), _grown(values, row)
        p, empty = _opened(text, p, 123)
        if p < 0 or empty:
            return -1, ids, values, undecided
        seen, members = 0, True
        values[row, 4] = np.nan
        ids[row, 2] = 0
        while members:
            start, end, p = _key(text, p)
            if start < 0:
                return -1, ids, values, undecided
            field = -1
            if _is(text, start, end, IMAGE_ID):
                field = 0
            elif _is(text, start, end, CATEGORY_ID):
                field = 1
            elif _is(text, start, end, BBOX):
                field = 2
            elif _is(text, start, end, SCORE if scored else AREA):
                field = 3
            elif not scored and _is(text, start, end, ISCROWD):
                field = 4
            if field < 0:
                p = _skip(text, p)
            elif seen & (1 << field):
                return -1, ids, values, undecided  # given twice
            elif field == 2:
                p, count = _box(text, p, values, row, undecided, count)
            elif field == 3:
                p, count = _number(text, p, values, row, 4, undecided, count)
            else:
                _, p, kind, whole = read_number(text, p)
                if kind != 1:
                    return -1, ids, values, undecided  # not an integer
                ids[row, 2 if field == 4 else field] = whole
            if p < 0:
                return -1, ids, values, undecided
            seen |= 1 << field if field >= 0 else 0
            p, members = _next_member(text, p, 125)
            if p < 0:
                return -1, ids, values, undecided
        if seen & 0b111 != 0b111 or (scored and not seen & 0b1000):
            return -1, ids, values, undecided  # a required field missing
        row += 1
        p, more = _next_member(text, p, 93)
        if p < 0:
            return -1, ids, values, undecided
    return p, ids[:row], values[:row], undecided[:count]


@numba.njit(cache=True, nogil=True)
def _box(text, p, values, row, undecided, count):
    """The [x, y, width, height] at p into values[row, :4]: (end, count) or (-1, count)."""
    p, empty = _opened(text, p, 91)
    if p < 0 or empty:
        return -1, count
    for column in range(4):
        p, count = _number(text, p, values, row, column, undecided, count)
        if p < 0:
            return -1, count
        p, more = _next_member(text, p, 93)
        if p < 0 or more != (column < 3):
            return -1, count
    return p, count


@numba.njit(cache=True, nogil=True)
def read_entries(text, p):
    """The array of images or categories at p: (end, ids (n,), names (n, 2): the start and end
    of each name's JSON string, -1 where it has none or null). end -1: gave up."""
    ids = np.empty(1024, dtype=np.int64)
    names = np.empty((1024, 2), dtype=np.int64)
    row = 0
    p, empty = _opened(text, p, 91)
    if p < 0 or empty:
        return p, ids[:0], names[:0]
    more = True
    while more:
        if row == len(ids):
            ids, names = _grown(ids, row), _grown(names, row)
        p, empty = _opened(text, p, 123)
        if p < 0 or empty:
            return -1, ids, names
        names[row, 0], names[row, 1] = -1, -1
        seen, members = 0, True
        while members:
            start, end, p = _key(text, p)
            if start < 0:
                return -1, ids, names
            if _is(text, start, end, ID):
                _, p, kind, whole = read_number(text, p)
                if kind != 1 or seen & 1:
                    return -1, ids, names
                ids[row], seen = whole, seen | 1
            elif _is(text, start, end, NAME):
                if seen & 2:
                    return -1, ids, names
                seen |= 2
                if p < len(text) and text[p] == 34:
                    names[row, 0] = p
                    p, _ = _string(text, p)
                    names[row, 1] = p
                elif p + 4 <= len(text) and _is(text, p, p + 4, NULL):
                    p += 4
                else:
                    return -1, ids, names  # a name that is not text
            else:
                p = _skip(text, p)
            if p < 0:
                return -1, ids, names
            p, members = _next_member(text, p, 125)
            if p < 0:
                return -1, ids, names
        if not seen & 1:
            return -1, ids, names
        row += 1
        p, more = _next_member(text, p, 93)
        if p < 0:
            return -1, ids, names
    return p, ids[:row], names[:row]


@numba.njit(cache=True, nogil=True)
def read_file(text, instances):
    """A COCO instances file (instances True: a JSON object) or results file (a list of
    detections): (status, image ids, category ids, category name spans (start, end of each
    name's JSON string), and the annotations' or detections' ids, values and undecided numbers
    as `read_boxes` gives them). One function for both files: numba compiles it once."""
    images, categories = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    names = np.empty((0, 2), dtype=np.int64)
    if not instances:
        end, ids, values, undecided = read_boxes(text, _space(text, 0), True)
        fine = end >= 0 and _space(text, end) == len(text)
        return (FINE if fine else GAVE_UP), images, categories, names, ids, values, undecided
    ids, values = np.empty((0, 3), dtype=np.int64), np.empty((0, 5), dtype=np.float64)
    undecided = np.empty((0, 3), dtype=np.int64)
    seen = 0
    p, empty = _opened(text, _space(text, 0), 123)
    members = p >= 0 and not empty
    while members:
        start, end, p = _key(text, p)
        if start < 0:
            break
        if _is(text, start, end, IMAGES) and not seen & 1:
            p, images, _ = read_entries(text, p)
            seen |= 1
        elif _is(text, start, end, CATEGORIES) and not seen & 2:
            p, categories, names = read_entries(text, p)
            seen |= 2
        elif _is(text, start, end, ANNOTATIONS) and not seen & 4:
            p, ids, values, undecided = read_boxes(text, p, False)
            seen |= 4
        elif _is(text, start, end, IMAGES) or _is(text, start, end, CATEGORIES):
            break  # given twice
        elif _is(text, start, end, ANNOTATIONS):
            break
        else:
            p = _skip(text, p)
        if p < 0:
            break
        p, members = _next_member(text, p, 125)
        if p < 0:
            break
    fine = p >= 0 and not members and seen == 7 and _space(text, p) == len(text)
    return (FINE if fine else GAVE_UP), images, categories, names, ids, values, undecided
