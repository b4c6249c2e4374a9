"""Go's ``slices.SortFunc`` (pattern-defeating quicksort), ported exactly.

The trace reader sorts its frontier of per-thread cursors with it when the head
cursor cannot advance; the sort is not stable, so matching Go's event order on
timestamp ties needs Go's exact algorithm, not Python's ``list.sort``.
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")
Key = Callable[[T], int]

_UNKNOWN, _INCREASING, _DECREASING = 0, 1, 2
_MASK64 = (1 << 64) - 1


def sort_func(data: list, key: Callable) -> None:
    """Sort ``data`` in place by ``key`` exactly as Go's slices.SortFunc with
    ``cmp.Compare(key(a), key(b))`` would."""
    n = len(data)
    _pdqsort(data, 0, n, n.bit_length(), key)


def _insertion_sort(data: list, a: int, b: int, key: Callable) -> None:
    for i in range(a + 1, b):
        j = i
        while j > a and key(data[j]) < key(data[j - 1]):
            data[j], data[j - 1] = data[j - 1], data[j]
            j -= 1


def _sift_down(data: list, lo: int, hi: int, first: int, key: Callable) -> None:
    root = lo
    while True:
        child = 2 * root + 1
        if child >= hi:
            break
        if child + 1 < hi and key(data[first + child]) < key(data[first + child + 1]):
            child += 1
        if not key(data[first + root]) < key(data[first + child]):
            return
        data[first + root], data[first + child] = data[first + child], data[first + root]
        root = child


def _heap_sort(data: list, a: int, b: int, key: Callable) -> None:
    first, lo, hi = a, 0, b - a
    for i in range((hi - 1) // 2, -1, -1):
        _sift_down(data, i, hi, first, key)
    for i in range(hi - 1, -1, -1):
        data[first], data[first + i] = data[first + i], data[first]
        _sift_down(data, lo, i, first, key)


def _pdqsort(data: list, a: int, b: int, limit: int, key: Callable) -> None:
    max_insertion = 12
    was_balanced = True
    was_partitioned = True
    while True:
        length = b - a
        if length <= max_insertion:
            _insertion_sort(data, a, b, key)
            return
        if limit == 0:
            _heap_sort(data, a, b, key)
            return
        if not was_balanced:
            _break_patterns(data, a, b)
            limit -= 1
        pivot, hint = _choose_pivot(data, a, b, key)
        if hint == _DECREASING:
            _reverse_range(data, a, b)
            pivot = (b - 1) - (pivot - a)
            hint = _INCREASING
        if was_balanced and was_partitioned and hint == _INCREASING:
            if _partial_insertion_sort(data, a, b, key):
                return
        if a > 0 and not key(data[a - 1]) < key(data[pivot]):
            a = _partition_equal(data, a, b, pivot, key)
            continue
        mid, already = _partition(data, a, b, pivot, key)
        was_partitioned = already
        left_len, right_len = mid - a, b - mid
        balance_threshold = length // 8
        if left_len < right_len:
            was_balanced = left_len >= balance_threshold
            _pdqsort(data, a, mid, limit, key)
            a = mid + 1
        else:
            was_balanced = right_len >= balance_threshold
            _pdqsort(data, mid + 1, b, limit, key)
            b = mid


def _partition(data: list, a: int, b: int, pivot: int, key: Callable) -> tuple[int, bool]:
    data[a], data[pivot] = data[pivot], data[a]
    i, j = a + 1, b - 1
    while i <= j and key(data[i]) < key(data[a]):
        i += 1
    while i <= j and not key(data[j]) < key(data[a]):
        j -= 1
    if i > j:
        data[j], data[a] = data[a], data[j]
        return j, True
    data[i], data[j] = data[j], data[i]
    i += 1
    j -= 1
    while True:
        while i <= j and key(data[i]) < key(data[a]):
            i += 1
        while i <= j and not key(data[j]) < key(data[a]):
            j -= 1
        if i > j:
            break
        data[i], data[j] = data[j], data[i]
        i += 1
        j -= 1
    data[j], data[a] = data[a], data[j]
    return j, False


def _partition_equal(data: list, a: int, b: int, pivot: int, key: Callable) -> int:
    data[a], data[pivot] = data[pivot], data[a]
    i, j = a + 1, b - 1
    while True:
        while i <= j and not key(data[a]) < key(data[i]):
            i += 1
        while i <= j and key(data[a]) < key(data[j]):
            j -= 1
        if i > j:
            break
        data[i], data[j] = data[j], data[i]
        i += 1
        j -= 1
    return i


def _partial_insertion_sort(data: list, a: int, b: int, key: Callable) -> bool:
    max_steps, shortest_shifting = 5, 50
    i = a + 1
    for _ in range(max_steps):
        while i < b and not key(data[i]) < key(data[i - 1]):
            i += 1
        if i == b:
            return True
        if b - a < shortest_shifting:
            return False
        data[i], data[i - 1] = data[i - 1], data[i]
        if i - a >= 2:
            for j in range(i - 1, 0, -1):
                if not key(data[j]) < key(data[j - 1]):
                    break
                data[j], data[j - 1] = data[j - 1], data[j]
        if b - i >= 2:
            for j in range(i + 1, b):
                if not key(data[j]) < key(data[j - 1]):
                    break
                data[j], data[j - 1] = data[j - 1], data[j]
    return False


def _break_patterns(data: list, a: int, b: int) -> None:
    length = b - a
    if length >= 8:
        random = length  # xorshift seeded with the length, like Go
        modulus = 1 << length.bit_length()
        idx = a + (length // 4) * 2 - 1
        while idx <= a + (length // 4) * 2 + 1:
            random ^= (random << 13) & _MASK64
            random ^= random >> 7
            random ^= (random << 17) & _MASK64
            other = random & (modulus - 1)
            if other >= length:
                other -= length
            data[idx], data[a + other] = data[a + other], data[idx]
            idx += 1


def _choose_pivot(data: list, a: int, b: int, key: Callable) -> tuple[int, int]:
    shortest_ninther, max_swaps = 50, 4 * 3
    n = b - a
    swaps = [0]
    i = a + n // 4 * 1
    j = a + n // 4 * 2
    k = a + n // 4 * 3
    if n >= 8:
        if n >= shortest_ninther:
            i = _median(data, i - 1, i, i + 1, swaps, key)
            j = _median(data, j - 1, j, j + 1, swaps, key)
            k = _median(data, k - 1, k, k + 1, swaps, key)
        j = _median(data, i, j, k, swaps, key)
    if swaps[0] == 0:
        return j, _INCREASING
    if swaps[0] == max_swaps:
        return j, _DECREASING
    return j, _UNKNOWN


def _order2(data: list, a: int, b: int, swaps: list[int], key: Callable) -> tuple[int, int]:
    if key(data[b]) < key(data[a]):
        swaps[0] += 1
        return b, a
    return a, b


def _median(data: list, a: int, b: int, c: int, swaps: list[int], key: Callable) -> int:
    a, b = _order2(data, a, b, swaps, key)
    b, c = _order2(data, b, c, swaps, key)
    a, b = _order2(data, a, b, swaps, key)
    return b


def _reverse_range(data: list, a: int, b: int) -> None:
    i, j = a, b - 1
    while i < j:
        data[i], data[j] = data[j], data[i]
        i += 1
        j -= 1
