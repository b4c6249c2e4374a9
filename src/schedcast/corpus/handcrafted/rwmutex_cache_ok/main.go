package main

import (
	"fmt"
	"sync"
)

type registry struct {
	mu    sync.RWMutex
	items map[string]int
}

func (r *registry) get(k string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.items[k]
}

func (r *registry) set(k string, v int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items[k] = v
}

func main() {
	r := &registry{items: map[string]int{"a": 1}}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := 0
			for j := 0; j < 20; j++ {
				s += r.get("a")
			}
			_ = s
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := 0; j < 10; j++ {
			r.set("a", j)
		}
	}()
	wg.Wait()
	fmt.Println("a =", r.get("a"))
}
