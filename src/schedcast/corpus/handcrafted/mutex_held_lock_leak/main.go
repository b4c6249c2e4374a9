package main

import (
	"fmt"
	"sync"
	"time"
)

type cache struct {
	mu      sync.Mutex
	entries map[int]int
}

func (c *cache) refresh(fail bool) {
	c.mu.Lock()
	if fail {
		return // bug: the lock is never released
	}
	c.entries[0] = 1
	c.mu.Unlock()
}

func (c *cache) get(k int, out chan<- int) {
	c.mu.Lock()
	v := c.entries[k]
	c.mu.Unlock()
	out <- v
}

func main() {
	c := &cache{entries: map[int]int{}}
	refreshed := make(chan struct{})
	go func() {
		c.refresh(true)
		close(refreshed)
	}()
	<-refreshed
	out := make(chan int, 3)
	for k := 0; k < 3; k++ {
		go c.get(k, out)
	}
	select {
	case v := <-out:
		fmt.Println("got", v)
	case <-time.After(20 * time.Millisecond):
		fmt.Println("requests timed out")
	}
}
