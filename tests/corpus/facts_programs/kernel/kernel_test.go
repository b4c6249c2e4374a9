// A GoBench-style test kernel, annotated like every_op.go.
package kernel

import (
	"sync"
	"testing"
	"time"
)

type cache struct {
	mu    sync.Mutex
	items map[int]int
}

func (c *cache) load(k int, fill func() int) int { // want: func_start -> mutex_lock
	c.mu.Lock() // want: mutex_lock -> mutex_unlock
	if v, ok := c.items[k]; ok {
		c.mu.Unlock() // want: mutex_unlock -> return
		return v      // want: return ->
	}
	c.mu.Unlock() // want: mutex_unlock -> mutex_lock
	v := fill()
	c.mu.Lock()         // want: mutex_lock -> return
	defer c.mu.Unlock() // want: mutex_unlock ->
	c.items[k] = v
	return v // want: return -> mutex_unlock
} // want: func_end -> mutex_unlock

func TestLoad(t *testing.T) { // want: func_start -> go timer
	c := &cache{items: map[int]int{}}
	results := make(chan int)
	for i := 0; i < 2; i++ {
		go func() { // want: go -> go timer; func_start -> mutex_lock
			results <- c.load(1, func() int { return 1 }) // want: send -> return; return -> ; func_end ->; func_start -> return
		}() // want: func_end ->
	}
	timeout := time.After(time.Second) // want: timer -> return select
	for i := 0; i < 2; i++ {
		select { // want: select -> return select
		case <-results:
		case <-timeout:
			t.Fatal("timed out") // nothing after Fatal: the test goroutine exits
		}
	}
} // want: func_end ->
