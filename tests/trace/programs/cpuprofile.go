// CPU profiling while tracing: the trace then carries CPU-sample batches, which
// the reader must merge by time with the scheduler events (as Go does).
package main

import (
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

var sink atomic.Int64

func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		for i := 0; i < 10000; i++ {
			x += i
		}
	}
	sink.Add(int64(x))
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	ch := make(chan int)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			burn(40 * time.Millisecond)
			ch <- 1
		}()
	}
	for i := 0; i < 3; i++ {
		<-ch
	}
	wg.Wait()
	trace.Stop()
	pprof.StopCPUProfile()
	f.Close()
}
