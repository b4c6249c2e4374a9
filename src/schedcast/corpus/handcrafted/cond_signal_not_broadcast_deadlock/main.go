package main

import (
	"fmt"
	"sync"
	"time"
)

func main() {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	started := false
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			mu.Lock()
			for !started {
				cond.Wait()
			}
			mu.Unlock()
			fmt.Println("runner", id, "off")
		}(i)
	}
	time.Sleep(2 * time.Millisecond) // let the runners reach Wait
	mu.Lock()
	started = true
	cond.Signal() // bug: wakes only one waiter
	mu.Unlock()
	wg.Wait()
}
