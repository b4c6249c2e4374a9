// Every operation the analyzer knows, each line annotated with what it must report:
// "want: OP -> NEXT..." (several operations on one line are separated by ";").
package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

type counter struct {
	sync.Mutex // embedded: c.Lock() is sync.Mutex's Lock
	n          int
}

func (c *counter) inc() { // want: func_start -> mutex_lock
	c.Lock()         // want: mutex_lock -> return
	defer c.Unlock() // want: mutex_unlock ->
	c.n++
} // want: func_end -> mutex_unlock

// A Lock method that is not a mutex: only the types tell it apart.
type fakeLock struct{}

func (fakeLock) Lock() {} // want: func_end ->; func_start -> return

type table struct {
	mu   sync.RWMutex
	data map[string]int
}

func (t *table) get(k string) int { // want: func_start -> rwmutex_rlock
	t.mu.RLock() // want: rwmutex_rlock -> rwmutex_runlock
	v := t.data[k]
	t.mu.RUnlock() // want: rwmutex_runlock -> return
	return v       // want: return ->
} // want: func_end ->

func (t *table) put(k string, v int) { // want: func_start -> rwmutex_lock
	t.mu.Lock() // want: rwmutex_lock -> rwmutex_unlock
	t.data[k] = v
	t.mu.Unlock() // want: rwmutex_unlock -> return
} // want: func_end ->

func drain[T any](c <-chan T) int { // want: func_start -> recv
	n := 0
	for range c { // want: recv -> recv return
		n++
	}
	return n // want: return ->
} // want: func_end ->

func pick(a, b chan int, quit chan struct{}) int { // want: func_start -> select
	select { // want: select -> return select
	case v := <-a:
		return v // want: return ->
	case b <- 1:
	}
	select { // want: select -> return sleep
	case <-a:
	case <-b:
	case b <- 2:
	case <-quit:
		return -1 // want: return ->
	default:
		time.Sleep(time.Millisecond) // want: sleep -> return
	}
	return 0 // want: return ->
} // want: func_end ->

func waitAll(n int) { // want: func_start -> wg_add wg_go
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)   // want: wg_add -> go
		go func() { // want: go -> wg_add wg_go; func_start -> gosched
			defer wg.Done()   // want: wg_done ->
			runtime.Gosched() // want: gosched -> return
		}() // want: func_end -> wg_done
	}
	wg.Go(func() { // want: wg_go -> wg_wait; func_start -> gc
		runtime.GC() // want: gc -> return
	}) // want: func_end ->
	wg.Wait() // want: wg_wait -> return
} // want: func_end ->

type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []int
	once  sync.Once
}

func (q *queue) push(v int) { // want: func_start -> mutex_lock
	q.mu.Lock() // want: mutex_lock -> cond_signal
	q.items = append(q.items, v)
	q.cond.Signal() // want: cond_signal -> mutex_unlock
	q.mu.Unlock()   // want: mutex_unlock -> return
} // want: func_end ->

func (q *queue) pop() int { // want: func_start -> mutex_lock
	q.mu.Lock() // want: mutex_lock -> cond_wait mutex_unlock
	for len(q.items) == 0 {
		q.cond.Wait() // want: cond_wait -> cond_wait mutex_unlock
	}
	v := q.items[0]
	q.items = q.items[1:]
	q.mu.Unlock() // want: mutex_unlock -> return
	return v      // want: return ->
} // want: func_end ->

func (q *queue) closeAll() { // want: func_start -> once_do
	q.once.Do(func() { // want: once_do -> cond_broadcast; func_start -> return
		fmt.Println("closing")
	}) // want: func_end ->
	q.cond.Broadcast() // want: cond_broadcast -> return
} // want: func_end ->

func produce(ctx context.Context, out chan<- int) { // want: func_start -> timer
	defer close(out)                           // want: close ->
	ticker := time.NewTicker(time.Millisecond) // want: timer -> ctx_done
	for i := 0; ; i++ {
		select { // want: select -> return send
		case <-ctx.Done(): // want: ctx_done -> select
			return // want: return -> close
		case <-ticker.C:
			out <- i // want: send -> ctx_done
		}
	}
} // want: func_end -> close

func main() { // want: func_start -> ctx_with_cancel
	ctx, cancel := context.WithCancel(context.Background()) // want: ctx_with_cancel -> go
	out := make(chan int)
	go produce(ctx, out) // want: go -> recv
	fmt.Println(<-out)   // want: recv -> ctx_cancel
	cancel()             // want: ctx_cancel -> recv
	for v := range out { // want: recv -> recv timer
		_ = v
	}
	<-time.After(time.Millisecond) // want: timer -> recv; recv -> go
	c := &counter{}
	go c.inc() // want: go -> rwmutex_lock
	var f fakeLock
	f.Lock()
	t := &table{data: map[string]int{}}
	t.put("a", 1)
	_ = t.get("a")
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	go q.push(1) // want: go -> mutex_lock
	_ = q.pop()
	q.closeAll()
	ints := make(chan int)
	go drain(ints) // want: go -> close
	close(ints)    // want: close -> select
	pick(make(chan int), make(chan int), nil)
	waitAll(2)
} // want: func_end ->
