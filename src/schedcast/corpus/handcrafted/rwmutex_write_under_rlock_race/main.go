package main

import (
	"fmt"
	"sync"
)

type registry struct {
	mu    sync.RWMutex
	items map[string]int
	hits  int
}

func (r *registry) get(k string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.hits++ // bug: a write under the read lock; readers run concurrently
	return r.items[k]
}

func main() {
	r := &registry{items: map[string]int{"a": 1}}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				r.get("a")
			}
		}()
	}
	wg.Wait()
	fmt.Println("hits", r.hits)
}
