"""A seeded generator of concurrent Go programs, with optional injected bugs.

Each template renders a small, complete `main` package from randomized parameters
(goroutine counts, buffer sizes, amounts of work, structural switches). A bug is
injected by construction and names the outcome it causes, so every program is
labelled before it runs; the tests confirm the labels by running a sample.

Determinism: program `i` of seed `s` draws its parameters from its own
``random.Random(f"{s}:{i}")`` stream (string seeds hash with SHA-512, independent of
PYTHONHASHSEED), so the same (count, seed) gives byte-identical programs.
Near-duplicates (same source once comments, string literals and whitespace are
normalized) are dropped and replaced by the next draw.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from schedcast.corpus.program import Program, make_program

GENERATOR_VERSION = "1"
DEFAULT_SEED = 0
DEFAULT_COUNT = 200
BUG_PROBABILITY = 0.6  # share of programs that get an injected bug


@dataclass(frozen=True)
class Bug:
    name: str
    expected: tuple[str, ...]  # the outcome the bug causes, by construction
    description: str


@dataclass(frozen=True)
class Rendered:
    source: str
    params: dict[str, object]
    description: str


Render = Callable[[random.Random, str | None], Rendered]


@dataclass(frozen=True)
class Template:
    name: str
    pattern: str
    bugs: tuple[Bug, ...]
    render: Render

    def bug(self, name: str) -> Bug:
        for b in self.bugs:
            if b.name == name:
                return b
        raise KeyError(f"template {self.name} has no bug {name!r}")


def fill(text: str, **values: object) -> str:
    """Replace @NAME@ placeholders; every placeholder must be given and used."""
    for key, value in values.items():
        marker = f"@{key}@"
        if marker not in text:
            raise KeyError(f"placeholder {marker} not in template")
        text = text.replace(marker, str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise KeyError(f"unfilled placeholders {left}")
    return text


def _gosched(on: bool, indent: str) -> str:
    return f"{indent}runtime.Gosched()\n" if on else ""


def _imports(*names: str) -> str:
    unique = sorted(set(names))
    return "import (\n" + "".join(f'\t"{n}"\n' for n in unique) + ")\n"


# --------------------------------------------------------------------- templates
# Each render function draws every parameter first (same draws with or without a
# bug), then writes the source.


def _worker_pool(rng: random.Random, bug: str | None) -> Rendered:
    workers = rng.randint(2, 5)
    jobs = rng.randint(3, 12)
    jobs_buffer = rng.choice([0, 1, jobs])
    work = rng.choice([10, 100, 1000])
    yield_ = rng.random() < 0.5
    imports = ["fmt", "sync"] + (["runtime"] if yield_ else [])
    add = "workers + 1" if bug == "wg_add_mismatch" else "workers"
    close_jobs = "" if bug == "missing_close" else "\tclose(jobs)\n"
    active = "\t\tactive++ // unprotected shared write\n" if bug == "unprotected_write" else "\t\tmu.Lock()\n\t\tactive++\n\t\tmu.Unlock()\n"
    src = "package main\n\n" + _imports(*imports) + fill(
        """
const workers = @WORKERS@

func main() {
	jobs := make(chan int, @JOBS_BUFFER@)
	results := make(chan int, @JOBS@)
	var wg sync.WaitGroup
	var mu sync.Mutex
	active := 0
	wg.Add(@ADD@)
	for w := 0; w < workers; w++ {
		go func(id int) {
			defer wg.Done()
@ACTIVE@			for j := range jobs {
				v := j
				for k := 0; k < @WORK@; k++ {
					v = (v*31 + k) % 1000003
				}
@YIELD@				results <- v
			}
		}(w)
	}
	for j := 0; j < @JOBS@; j++ {
		jobs <- j
	}
@CLOSE@	wg.Wait()
	close(results)
	sum := 0
	for v := range results {
		sum += v
	}
	mu.Lock()
	fmt.Println("workers", active, "sum", sum)
	mu.Unlock()
}
""",
        WORKERS=workers, JOBS_BUFFER=jobs_buffer, JOBS=jobs, ADD=add, ACTIVE=active, WORK=work,
        YIELD=_gosched(yield_, "\t\t\t\t"), CLOSE=close_jobs,
    )
    desc = f"Worker pool: {workers} workers, {jobs} jobs (jobs buffer {jobs_buffer})."
    return Rendered(src, {"workers": workers, "jobs": jobs, "jobs_buffer": jobs_buffer, "work": work, "gosched": yield_}, desc)


def _producer_consumer(rng: random.Random, bug: str | None) -> Rendered:
    producers = rng.randint(1, 3)
    consumers = rng.randint(1, 3)
    per_producer = rng.randint(2, 8)
    buffer = rng.choice([0, 1, 2, 4])
    total = producers * per_producer
    close_stmt = "" if bug == "missing_close" else "\t\tclose(items)\n"
    if bug == "send_no_receiver":
        # Consumers stop buffer+1 items early: one send can never complete.
        buffer = min(buffer, total - 1)
        quota = total - buffer - 1
        consume = fill(
            """			for {
				mu.Lock()
				if taken == @QUOTA@ {
					mu.Unlock()
					return // stops early
				}
				taken++
				mu.Unlock()
				v := <-items
				mu.Lock()
				sum += v
				mu.Unlock()
			}
""", QUOTA=quota)
    else:
        consume = """			for v := range items {
				mu.Lock()
				taken++
				sum += v
				mu.Unlock()
			}
"""
    src = "package main\n\n" + _imports("fmt", "sync") + fill(
        """
func main() {
	items := make(chan int, @BUFFER@)
	var producers, consumers sync.WaitGroup
	var mu sync.Mutex
	taken, sum := 0, 0
	for p := 0; p < @PRODUCERS@; p++ {
		producers.Add(1)
		go func(p int) {
			defer producers.Done()
			for i := 0; i < @PER_PRODUCER@; i++ {
				items <- p*100 + i
			}
		}(p)
	}
	go func() {
		producers.Wait()
@CLOSE@	}()
	for c := 0; c < @CONSUMERS@; c++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
@CONSUME@		}()
	}
	consumers.Wait()
	fmt.Println("consumed", taken, "sum", sum)
}
""",
        BUFFER=buffer, PRODUCERS=producers, PER_PRODUCER=per_producer, CLOSE=close_stmt,
        CONSUMERS=consumers, CONSUME=consume,
    )
    desc = f"Producer-consumer: {producers} producers x {per_producer} items, {consumers} consumers, buffer {buffer}."
    return Rendered(src, {"producers": producers, "consumers": consumers, "per_producer": per_producer, "buffer": buffer}, desc)


_STAGE_OPS = {
    "double": "v * 2",
    "inc": "v + 1",
    "square": "(v * v) % 1009",
    "negate": "-v",
}


def _pipeline(rng: random.Random, bug: str | None) -> Rendered:
    stages = rng.randint(2, 4)
    ops = [rng.choice(sorted(_STAGE_OPS)) for _ in range(stages)]
    buffers = [rng.choice([0, 0, 1, 2]) for _ in range(stages)]
    items = rng.randint(3, 10)
    broken = rng.randrange(stages)
    if bug == "early_exit":
        # Enough items that some stage must still hold one when the sink leaves.
        items = max(items, 2 + sum(buffers) + stages + rng.randint(0, 3))
    funcs = []
    for i, (op, buf) in enumerate(zip(ops, buffers)):
        close = "" if (bug == "missing_close" and i == broken) else "\t\tdefer close(out)\n"
        funcs.append(fill(
            """
func stage@I@(in <-chan int) <-chan int {
	out := make(chan int, @BUF@)
	go func() {
@CLOSE@		for v := range in {
			out <- @OP@
		}
	}()
	return out
}
""", I=i, BUF=buf, CLOSE=close, OP=_STAGE_OPS[op]))
    chain = "source(@ITEMS@)"
    for i in range(stages):
        chain = f"stage{i}({chain})"
    chain = chain.replace("@ITEMS@", str(items))
    if bug == "early_exit":
        sink = f"\tout := {chain}\n\tsum := <-out // takes one value and leaves\n"
    else:
        sink = f"\tsum := 0\n\tfor v := range {chain} {{\n\t\tsum += v\n\t}}\n"
    src = "package main\n\n" + _imports("fmt") + fill(
        """
func source(n int) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		for i := 1; i <= n; i++ {
			out <- i
		}
	}()
	return out
}
@FUNCS@
func main() {
@SINK@	fmt.Println("sum", sum)
}
""", FUNCS="".join(funcs), SINK=sink)
    desc = f"Pipeline of {stages} stages ({', '.join(ops)}) over {items} items."
    return Rendered(src, {"stages": stages, "ops": ops, "buffers": buffers, "items": items, "broken_stage": broken}, desc)


def _fan_in(rng: random.Random, bug: str | None) -> Rendered:
    sources = rng.randint(2, 5)
    counts = [rng.randint(1, 5) for _ in range(sources)]
    merged_buffer = rng.choice([0, 1, 3])
    if bug == "first_only" and sum(counts) < merged_buffer + 2:
        counts[0] += merged_buffer + 2 - sum(counts)
    closer = "" if bug == "missing_close" else "\tgo func() {\n\t\twg.Wait()\n\t\tclose(out)\n\t}()\n"
    if bug == "first_only":
        consume = "\tfirst := <-merged // keeps only the first value\n\tfmt.Println(\"first\", first)\n"
    else:
        consume = "\tn := 0\n\tfor range merged {\n\t\tn++\n\t}\n\tfmt.Println(\"merged\", n)\n"
    src = "package main\n\n" + _imports("fmt", "sync") + fill(
        """
func source(id, n int) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		for i := 0; i < n; i++ {
			out <- id*10 + i
		}
	}()
	return out
}

func merge(inputs []<-chan int) <-chan int {
	out := make(chan int, @BUFFER@)
	var wg sync.WaitGroup
	for _, in := range inputs {
		wg.Add(1)
		go func(in <-chan int) {
			defer wg.Done()
			for v := range in {
				out <- v
			}
		}(in)
	}
@CLOSER@	return out
}

func main() {
	counts := []int{@COUNTS@}
	var inputs []<-chan int
	for id, n := range counts {
		inputs = append(inputs, source(id, n))
	}
	merged := merge(inputs)
@CONSUME@}
""", BUFFER=merged_buffer, CLOSER=closer, COUNTS=", ".join(map(str, counts)), CONSUME=consume)
    desc = f"Fan-in of {sources} sources ({sum(counts)} values) into one channel (buffer {merged_buffer})."
    return Rendered(src, {"sources": sources, "counts": counts, "merged_buffer": merged_buffer}, desc)


def _select_timeout(rng: random.Random, bug: str | None) -> Rendered:
    work = rng.choice([1_000, 100_000, 20_000_000, 30_000_000])
    timeout_us = rng.choice([200, 500, 2_000_000])
    buffer = 1
    if bug == "send_no_receiver":
        buffer = 0
        work = rng.choice([40_000_000, 60_000_000])  # far slower than the timeout
        timeout_us = rng.choice([100, 200])
    src = "package main\n\n" + _imports("fmt", "time") + fill(
        """
func compute(out chan<- int) {
	x := 0
	for i := 0; i < @WORK@; i++ {
		x += i & 7
	}
	out <- x
}

func main() {
	out := make(chan int, @BUFFER@)
	go compute(out)
	select {
	case v := <-out:
		fmt.Println("result", v)
	case <-time.After(@TIMEOUT@ * time.Microsecond):
		fmt.Println("timed out")
	}
}
""", WORK=work, BUFFER=buffer, TIMEOUT=timeout_us)
    desc = f"Select between a computation ({work} steps) and a {timeout_us} us timeout; result buffer {buffer}."
    return Rendered(src, {"work": work, "timeout_us": timeout_us, "buffer": buffer}, desc)


def _shared_lock(rng: random.Random, bug: str | None) -> Rendered:
    goroutines = rng.randint(2, 5)
    increments = rng.randint(5, 50)
    use_defer = rng.random() < 0.5
    if bug == "lock_order_inversion":
        src = "package main\n\n" + _imports("fmt", "sync", "time") + fill(
            """
func main() {
	var a, b sync.Mutex
	balance := [2]int{@START@, @START@}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.Lock()
		time.Sleep(@PAUSE@ * time.Microsecond)
		b.Lock() // locks a then b
		balance[0]--
		balance[1]++
		b.Unlock()
		a.Unlock()
	}()
	go func() {
		defer wg.Done()
		b.Lock()
		time.Sleep(@PAUSE@ * time.Microsecond)
		a.Lock() // bug: locks b then a
		balance[1]--
		balance[0]++
		a.Unlock()
		b.Unlock()
	}()
	wg.Wait()
	fmt.Println(balance)
}
""", START=increments, PAUSE=rng.choice([1000, 2000, 3000]))
        desc = "Two goroutines lock two mutexes in opposite orders with a pause in between."
        return Rendered(src, {"goroutines": 2, "start": increments}, desc)
    locked_inc = "\t\t\t\tmu.Lock()\n\t\t\t\tdefer mu.Unlock()\n\t\t\t\tcounter++\n" if use_defer else "\t\t\t\tmu.Lock()\n\t\t\t\tcounter++\n\t\t\t\tmu.Unlock()\n"
    if bug == "missing_unlock":
        body = "\t\t\t\tmu.Lock()\n\t\t\t\tif id == 0 && i == @FAIL_AT@ {\n\t\t\t\t\treturn // error path keeps the lock\n\t\t\t\t}\n\t\t\t\tcounter++\n\t\t\t\tmu.Unlock()\n"
        body = body.replace("@FAIL_AT@", str(rng.randrange(increments)))
    elif bug == "unprotected_write":
        body = "\t\t\t\tif id == 0 {\n\t\t\t\t\tcounter++ // skips the lock\n\t\t\t\t\treturn\n\t\t\t\t}\n" + (
            "\t\t\t\tmu.Lock()\n\t\t\t\tcounter++\n\t\t\t\tmu.Unlock()\n")
    else:
        body = locked_inc
    inner = "\t\t\tfor i := 0; i < @INCREMENTS@; i++ {\n\t\t\t\tfunc() {\n" + body.replace("\t\t\t\t", "\t\t\t\t\t") + "\t\t\t\t}()\n\t\t\t}\n"
    if bug == "missing_unlock":
        # `return` inside the closure only leaves the closure: use a flag to stop the loop too.
        inner = "\t\t\tfor i := 0; i < @INCREMENTS@; i++ {\n\t\t\t\tmu.Lock()\n\t\t\t\tif id == 0 && i == @FAIL_AT@ {\n\t\t\t\t\treturn // error path keeps the lock\n\t\t\t\t}\n\t\t\t\tcounter++\n\t\t\t\tmu.Unlock()\n\t\t\t}\n"
        inner = inner.replace("@FAIL_AT@", str(rng.randrange(increments)))
    inner = inner.replace("@INCREMENTS@", str(increments))
    src = "package main\n\n" + _imports("fmt", "sync") + fill(
        """
func main() {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < @GOROUTINES@; g++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
@INNER@		}(g)
	}
	wg.Wait()
	mu.Lock()
	fmt.Println("counter", counter)
	mu.Unlock()
}
""", GOROUTINES=goroutines, INNER=inner)
    desc = f"{goroutines} goroutines increment a mutex-protected counter {increments} times each."
    return Rendered(src, {"goroutines": goroutines, "increments": increments, "defer_unlock": use_defer}, desc)


def _rwmutex(rng: random.Random, bug: str | None) -> Rendered:
    readers = rng.randint(2, 4)
    writers = rng.randint(1, 2)
    reads = rng.randint(3, 20)
    if bug == "write_under_rlock":
        reads += 30  # many overlapping read sections: the race shows in nearly every run
    writes = rng.randint(1, 5)
    read_body = "\tc.mu.RLock()\n\tdefer c.mu.RUnlock()\n"
    if bug == "write_under_rlock":
        read_body += "\tc.hits++ // writes under the read lock\n"
    # lock_upgrade asks for keys no writer creates, so every call upgrades.
    get_call = "c.getOrCreate(100 + k)" if bug == "lock_upgrade" else "c.get(k)"
    src = "package main\n\n" + _imports("fmt", "sync") + fill(
        """
type cache struct {
	mu   sync.RWMutex
	data map[int]int
	hits int
}

func (c *cache) get(k int) int {
@READ_BODY@	return c.data[k]
}

func (c *cache) getOrCreate(k int) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v, ok := c.data[k]; ok {
		return v
	}
	c.mu.Lock() // upgrades a read lock: waits for itself
	defer c.mu.Unlock()
	c.data[k] = k
	return k
}

func (c *cache) set(k, v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[k] = v
}

func main() {
	c := &cache{data: map[int]int{0: 1}}
	var wg sync.WaitGroup
	for r := 0; r < @READERS@; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; i < @READS@; i++ {
				k := (r + i) % 3
				_ = @GET_CALL@
			}
		}(r)
	}
	for w := 0; w < @WRITERS@; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < @WRITES@; i++ {
				c.set(i%3, w+i)
			}
		}(w)
	}
	wg.Wait()
	fmt.Println("entries", len(c.data))
}
""", READ_BODY=read_body, READERS=readers, READS=reads, GET_CALL=get_call, WRITERS=writers, WRITES=writes)
    desc = f"RWMutex cache: {readers} readers x {reads} reads, {writers} writers x {writes} writes."
    return Rendered(src, {"readers": readers, "writers": writers, "reads": reads, "writes": writes}, desc)


def _cond(rng: random.Random, bug: str | None) -> Rendered:
    if bug == "signal_not_broadcast" or (bug is None and rng.random() < 0.5):
        waiters = rng.randint(2, 4)
        wake = "cond.Signal() // wakes only one waiter" if bug else "cond.Broadcast()"
        src = "package main\n\n" + _imports("fmt", "sync", "time") + fill(
            """
func main() {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	started := false
	var wg sync.WaitGroup
	for i := 0; i < @WAITERS@; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			mu.Lock()
			for !started {
				cond.Wait()
			}
			mu.Unlock()
			fmt.Println("waiter", id, "released")
		}(i)
	}
	time.Sleep(@PAUSE@ * time.Microsecond)
	mu.Lock()
	started = true
	@WAKE@
	mu.Unlock()
	wg.Wait()
}
""", WAITERS=waiters, PAUSE=rng.choice([2000, 3000]), WAKE=wake)
        desc = f"{waiters} goroutines wait on a condition for a start flag."
        return Rendered(src, {"variant": "start_flag", "waiters": waiters}, desc)
    items = rng.randint(2, 8)
    signal = "" if bug == "missing_signal" else "\tq.cond.Signal()\n"
    src = "package main\n\n" + _imports("fmt", "sync", "time") + fill(
        """
type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []int
}

func (q *queue) put(v int) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
@SIGNAL@}

func (q *queue) get() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		q.cond.Wait()
	}
	v := q.items[0]
	q.items = q.items[1:]
	return v
}

func main() {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	done := make(chan int)
	go func() {
		sum := 0
		for i := 0; i < @ITEMS@; i++ {
			sum += q.get()
		}
		done <- sum
	}()
	time.Sleep(@PAUSE@ * time.Microsecond) // the consumer is waiting by now
	for i := 0; i < @ITEMS@; i++ {
		q.put(i)
	}
	fmt.Println("sum", <-done)
}
""", SIGNAL=signal, ITEMS=items, PAUSE=rng.choice([1000, 2000]))
    desc = f"Queue on sync.Cond: a consumer takes {items} items put by main."
    return Rendered(src, {"variant": "queue", "items": items}, desc)


def _context_cancel(rng: random.Random, bug: str | None) -> Rendered:
    workers = rng.randint(1, 4)
    ticks = rng.randint(workers, 12)
    if bug == "forgotten_cancel":
        ending = "\t_ = cancel // never called\n\tfmt.Println(\"got\", n, \"ticks\")\n"
    else:
        ending = "\tcancel()\n\twg.Wait()\n\tfmt.Println(\"got\", n, \"ticks\")\n"
    src = "package main\n\n" + _imports("context", "fmt", "sync") + fill(
        """
func worker(ctx context.Context, id int, ticks chan<- int, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ticks <- id:
		}
	}
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan int)
	var wg sync.WaitGroup
	for id := 0; id < @WORKERS@; id++ {
		wg.Add(1)
		go worker(ctx, id, ticks, &wg)
	}
	n := 0
	for i := 0; i < @TICKS@; i++ {
		<-ticks
		n++
	}
@ENDING@}
""", WORKERS=workers, TICKS=ticks, ENDING=ending)
    desc = f"{workers} workers tick until their context is cancelled; main takes {ticks} ticks."
    return Rendered(src, {"workers": workers, "ticks": ticks}, desc)


def _semaphore(rng: random.Random, bug: str | None) -> Rendered:
    slots = rng.randint(1, 3)
    tasks = rng.randint(slots + 1, 8)
    fail_every = rng.randint(2, 3)
    release_on_error = "" if bug == "missing_release" else "\t\t<-sem\n"
    src = "package main\n\n" + _imports("fmt", "sync") + fill(
        """
func task(id int, sem chan struct{}) error {
	sem <- struct{}{}
	if id%@FAIL_EVERY@ == 1 {
@RELEASE@		return fmt.Errorf("task %d failed", id)
	}
	<-sem
	return nil
}

func main() {
	sem := make(chan struct{}, @SLOTS@)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := 0; i < @TASKS@; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			if task(id, sem) != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < @SLOTS@; i++ {
		sem <- struct{}{} // every slot must be free again
	}
	fmt.Println("failed", failed)
}
""", FAIL_EVERY=fail_every, RELEASE=release_on_error, SLOTS=slots, TASKS=tasks)
    desc = f"Counting semaphore of {slots} slots over {tasks} tasks; every {fail_every}th fails."
    return Rendered(src, {"slots": slots, "tasks": tasks, "fail_every": fail_every}, desc)


def _errgroup(rng: random.Random, bug: str | None) -> Rendered:
    tasks = rng.randint(2, 6)
    failing = rng.randint(2, tasks) if bug == "unbuffered_errors" else rng.randint(0, tasks)
    buffer = 0 if bug == "unbuffered_errors" else tasks
    src = "package main\n\n" + _imports("errors", "fmt", "sync") + fill(
        """
func runAll(n, failing int) error {
	errc := make(chan error, @BUFFER@)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i < failing {
				errc <- errors.New(fmt.Sprint("task ", i, " failed"))
			}
		}(i)
	}
	go func() {
		wg.Wait()
		close(errc)
	}()
	return <-errc // the first error, or nil once all succeeded
}

func main() {
	fmt.Println("first error:", runAll(@TASKS@, @FAILING@))
}
""", BUFFER=buffer, TASKS=tasks, FAILING=failing)
    desc = f"Errgroup-style fan-out of {tasks} tasks ({failing} fail); the first error wins (buffer {buffer})."
    return Rendered(src, {"tasks": tasks, "failing": failing, "buffer": buffer}, desc)


def _once(rng: random.Random, bug: str | None) -> Rendered:
    goroutines = rng.randint(2, 5)
    entries = rng.randint(1, 6)
    # The Once lives in a struct made by main, not in a global: a goroutine blocked on
    # a global's mutex is never provably stuck (outcome "blocked", not "deadlock").
    if bug == "check_then_init":
        init = "\tif r.table == nil { // unsynchronised check-then-act\n\t\tr.table = build()\n\t}\n"
    elif bug == "recursive_do":
        init = "\tr.once.Do(func() {\n\t\tr.table = build()\n\t\t_ = r.lookup(0) // re-enters once.Do\n\t})\n"
    else:
        init = "\tr.once.Do(func() {\n\t\tr.table = build()\n\t})\n"
    src = "package main\n\n" + _imports("fmt", "sync") + fill(
        """
type registry struct {
	once  sync.Once
	table map[int]int
}

func build() map[int]int {
	m := map[int]int{}
	for i := 0; i < @ENTRIES@; i++ {
		m[i] = i * i
	}
	return m
}

func (r *registry) lookup(k int) int {
@INIT@	return r.table[k]
}

func main() {
	r := &registry{}
	var wg sync.WaitGroup
	out := make([]int, @GOROUTINES@)
	for g := 0; g < @GOROUTINES@; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			out[g] = r.lookup(g % @ENTRIES@)
		}(g)
	}
	wg.Wait()
	fmt.Println(out)
}
""", ENTRIES=entries, INIT=init, GOROUTINES=goroutines)
    desc = f"{goroutines} goroutines share a lazily built table of {entries} entries."
    return Rendered(src, {"goroutines": goroutines, "entries": entries}, desc)


def _ping_pong(rng: random.Random, bug: str | None) -> Rendered:
    rounds = rng.randint(1, 10)
    buffer = rng.choice([0, 0, 1])
    replies = rounds + 1 if bug == "extra_receive" else rounds
    src = "package main\n\n" + _imports("fmt") + fill(
        """
func main() {
	requests := make(chan int, @BUFFER@)
	replies := make(chan int, @BUFFER@)
	go func() {
		for i := 0; i < @ROUNDS@; i++ {
			r := <-requests
			replies <- r + 1
		}
	}()
	total := 0
	for i := 0; i < @REPLIES@; i++ {
		if i < @ROUNDS@ {
			requests <- i
		}
		total += <-replies
	}
	fmt.Println("total", total)
}
""", BUFFER=buffer, ROUNDS=rounds, REPLIES=replies)
    desc = f"Request/reply over channels for {rounds} rounds (buffer {buffer})."
    return Rendered(src, {"rounds": rounds, "buffer": buffer}, desc)


TEMPLATES: tuple[Template, ...] = (
    Template("worker_pool", "worker_pool", (
        Bug("missing_close", ("deadlock",), "the jobs channel is never closed"),
        Bug("wg_add_mismatch", ("deadlock",), "WaitGroup.Add counts one worker too many"),
        Bug("unprotected_write", ("race",), "workers update a shared counter without the lock"),
    ), _worker_pool),
    Template("producer_consumer", "buffered_channel", (
        Bug("missing_close", ("deadlock",), "nobody closes the item channel"),
        Bug("send_no_receiver", ("leak",), "consumers stop early; a producer's send has no receiver"),
    ), _producer_consumer),
    Template("pipeline", "pipeline", (
        Bug("missing_close", ("deadlock",), "a stage never closes its output"),
        Bug("early_exit", ("leak",), "the sink takes one value and returns; stages block on send"),
    ), _pipeline),
    Template("fan_in", "fan_in", (
        Bug("missing_close", ("deadlock",), "the merged channel is never closed"),
        Bug("first_only", ("leak",), "the consumer keeps the first value; forwarders block"),
    ), _fan_in),
    Template("select_timeout", "timeout", (
        Bug("send_no_receiver", ("leak",), "the result is sent on an unbuffered channel after the timeout fired"),
    ), _select_timeout),
    Template("shared_lock", "mutex", (
        Bug("missing_unlock", ("deadlock",), "an error path returns with the mutex held"),
        Bug("unprotected_write", ("race",), "one goroutine writes the counter without the lock"),
        Bug("lock_order_inversion", ("deadlock",), "two goroutines lock two mutexes in opposite orders"),
    ), _shared_lock),
    Template("rwmutex", "rwmutex", (
        Bug("write_under_rlock", ("race",), "readers write a hit counter under the read lock"),
        Bug("lock_upgrade", ("deadlock",), "a reader upgrades its read lock to a write lock"),
    ), _rwmutex),
    Template("cond", "cond", (
        Bug("missing_signal", ("deadlock",), "put never signals the waiting consumer"),
        Bug("signal_not_broadcast", ("deadlock",), "Signal wakes one of several waiters"),
    ), _cond),
    Template("context_cancel", "context", (
        Bug("forgotten_cancel", ("leak",), "the context's cancel function is never called"),
    ), _context_cancel),
    Template("semaphore", "semaphore", (
        Bug("missing_release", ("deadlock",), "a failing task keeps its semaphore slot"),
    ), _semaphore),
    Template("errgroup", "errgroup", (
        Bug("unbuffered_errors", ("leak",), "errors go to an unbuffered channel read once"),
    ), _errgroup),
    Template("once", "once", (
        Bug("check_then_init", ("race",), "lazy initialisation by an unsynchronised nil check"),
        Bug("recursive_do", ("deadlock",), "the once function re-enters once.Do"),
    ), _once),
    Template("ping_pong", "channel", (
        Bug("extra_receive", ("deadlock",), "main waits for one reply more than it requested"),
    ), _ping_pong),
)
TEMPLATE_BY_NAME = {t.name: t for t in TEMPLATES}


# --------------------------------------------------------------------- generation
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')
_SPACE_RE = re.compile(r"\s+")


def normalize_source(source: str) -> str:
    """Source with comments removed, string literals emptied and whitespace collapsed:
    programs equal under this differ only in text that does not change their behaviour."""
    text = _STRING_RE.sub('""', source)
    text = _COMMENT_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def normalized_hash(program: Program) -> str:
    h = hashlib.sha256()
    for name in sorted(program.sources):
        h.update(name.encode() + b"\0" + normalize_source(program.sources[name]).encode() + b"\0")
    return h.hexdigest()


def render(template: Template, seed: int, index: int, bug: str | None) -> Program:
    """One program of `template` (with `bug`, or clean) from the (seed, index) stream."""
    rng = random.Random(f"{seed}:{index}:{template.name}")
    rendered = template.render(rng, bug)
    expected = template.bug(bug).expected if bug else ("ok",)
    digest = hashlib.sha256(normalize_source(rendered.source).encode()).hexdigest()[:10]
    program_id = f"gen_{template.name}_{bug or 'clean'}_{digest}"
    description = rendered.description + (f" Bug: {template.bug(bug).description}." if bug else "")
    return make_program(
        program_id,
        {"main.go": rendered.source},
        pattern=template.pattern,
        expected=expected,
        description=description,
        origin="generated",
        extra={
            "template": template.name,
            "bug": bug or "",
            "seed": str(seed),
            "index": str(index),
            "generator_version": GENERATOR_VERSION,
            "params": json.dumps(rendered.params, sort_keys=True),
        },
    )


@dataclass
class Generation:
    programs: list[Program]
    seed: int
    attempts: int
    duplicates: list[str] = field(default_factory=list)  # ids of dropped near-duplicates


def generate(
    count: int = DEFAULT_COUNT,
    seed: int = DEFAULT_SEED,
    *,
    templates: tuple[str, ...] | None = None,
    bug_probability: float = BUG_PROBABILITY,
    max_attempts: int | None = None,
) -> Generation:
    """`count` distinct programs from `seed` (byte-identical for the same arguments)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    chosen = [TEMPLATE_BY_NAME[t] for t in templates] if templates else list(TEMPLATES)
    limit = max_attempts if max_attempts is not None else 20 * count + 100
    seen: set[str] = set()
    out = Generation(programs=[], seed=seed, attempts=0)
    index = 0
    while len(out.programs) < count:
        if index >= limit:
            raise RuntimeError(
                f"only {len(out.programs)} distinct programs after {limit} attempts; "
                "the chosen templates cannot produce that many"
            )
        pick = random.Random(f"{seed}:{index}")
        template = pick.choice(chosen)
        bug = pick.choice(template.bugs).name if pick.random() < bug_probability else None
        program = render(template, seed, index, bug)
        index += 1
        key = normalized_hash(program)
        if key in seen:
            out.duplicates.append(program.id)
            continue
        seen.add(key)
        out.programs.append(program)
    out.attempts = index
    return out


def sample_per_variant(seed: int = DEFAULT_SEED) -> list[Program]:
    """One program per (template, bug or clean) pair: a cheap sample that covers every
    code path of the generator."""
    programs = []
    for t in TEMPLATES:
        for bug in [None, *(b.name for b in t.bugs)]:
            programs.append(render(t, seed, 0, bug))
    return programs
