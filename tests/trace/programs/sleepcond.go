// time.Sleep, sync.Cond broadcast and signal, sync.Once.
package main

import (
	"os"
	"runtime/trace"
	"sync"
	"time"
)

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	ready := false
	var once sync.Once
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Millisecond)
			once.Do(func() {})
			mu.Lock()
			for !ready {
				cond.Wait()
			}
			mu.Unlock()
		}(i)
	}
	time.Sleep(5 * time.Millisecond)
	mu.Lock()
	ready = true
	cond.Signal()
	cond.Broadcast()
	mu.Unlock()
	wg.Wait()
	trace.Stop()
	f.Close()
}
