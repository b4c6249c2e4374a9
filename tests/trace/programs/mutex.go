// Mutex, RWMutex and WaitGroup contention.
package main

import (
	"os"
	"runtime/trace"
	"sync"
)

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) inc() {
	c.mu.Lock()
	for i := 0; i < 1000; i++ {
		c.n += i & 1
	}
	c.mu.Unlock()
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	var c counter
	var rw sync.RWMutex
	shared := map[int]int{}
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				c.inc()
			}
		}()
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if i%4 == 0 {
					rw.Lock()
					shared[g] = i
					rw.Unlock()
				} else {
					rw.RLock()
					_ = shared[g]
					rw.RUnlock()
				}
			}
		}(g)
	}
	wg.Wait()
	trace.Stop()
	f.Close()
}
