"""The port of Go's slices.SortFunc (unstable pdqsort) permutes ties exactly like Go:
the reader relies on it to order threads whose next events share a timestamp."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from schedcast.toolchain import run_go
from schedcast.trace._gosort import sort_func

GO_PROGRAM = """
package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

type item struct{ key, id int }

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var keys []int
		for _, field := range strings.Fields(in.Text()) {
			k, err := strconv.Atoi(field)
			if err != nil {
				panic(err)
			}
			keys = append(keys, k)
		}
		items := make([]item, len(keys))
		for i, k := range keys {
			items[i] = item{k, i}
		}
		slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.key, b.key) })
		for i, it := range items {
			if i > 0 {
				out.WriteByte(' ')
			}
			fmt.Fprint(out, it.id)
		}
		out.WriteByte('\\n')
	}
}
"""


def test_sort_func_matches_go_on_ties(tmp_path: Path) -> None:
    rnd = random.Random(7)
    cases = []
    for n in [0, 1, 2, 5, 12, 13, 20, 49, 50, 51, 64, 100, 257, 1000]:
        for spread in (1, 2, 3, 10, n or 1):
            cases.append([rnd.randrange(spread) for _ in range(n)])
    cases.append(list(range(300, 0, -1)))  # decreasing: pdqsort's reverse path
    cases.append([5] * 80 + [1] * 80)  # many duplicates: the equal-partition path
    src = tmp_path / "sort.go"
    src.write_text(GO_PROGRAM)
    binary = tmp_path / "sort"
    proc = run_go(["build", "-o", str(binary), str(src)])
    assert proc.returncode == 0, proc.stderr

    stdin = "".join(" ".join(map(str, keys)) + "\n" for keys in cases if keys)
    go_out = subprocess.run(
        [str(binary)], input=stdin, capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    nonempty = [keys for keys in cases if keys]
    assert len(go_out) == len(nonempty)
    for keys, go_line in zip(nonempty, go_out):
        items = [(k, i) for i, k in enumerate(keys)]
        sort_func(items, lambda it: it[0])
        assert [i for _, i in items] == [int(x) for x in go_line.split()], keys
    empty: list = []
    sort_func(empty, lambda it: it)
    assert empty == []
