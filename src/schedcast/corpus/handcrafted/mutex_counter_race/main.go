package main

import (
	"fmt"
	"sync"
)

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(d int) {
	if d == 1 {
		c.n++ // bug: the "cheap" path skips the lock
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
}

func main() {
	var c counter
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(step int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				c.add(step)
			}
		}(g%2 + 1)
	}
	wg.Wait()
	fmt.Println("count", c.n)
}
