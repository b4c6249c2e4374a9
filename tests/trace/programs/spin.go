// Busy spinners (preempted by the scheduler) and explicit runtime.Gosched yields.
package main

import (
	"os"
	"runtime"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

var sink atomic.Int64

func spin(d time.Duration) {
	end := time.Now().Add(d)
	x := int64(0)
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x += int64(i)
		}
	}
	sink.Add(x)
}

func yielder(n int) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); spin(30 * time.Millisecond) }()
		go func() { defer wg.Done(); yielder(20) }()
	}
	wg.Wait()
	trace.Stop()
	f.Close()
}
