// Goroutine leaks (blocked forever on a channel, on a two-case select), with the
// schedcast harness protocol: "schedcast" log markers and a harness goroutine.
package main

import (
	"context"
	"os"
	"runtime"
	"runtime/trace"
	"time"
)

func schedcastHarnessWatchdog(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
			time.Sleep(time.Millisecond)
		}
	}
}

func leakySend(c chan int) { c <- 1 }

func leakySelect(a, b chan int) {
	select {
	case <-a:
	case <-b:
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
	stop := make(chan struct{})
	go schedcastHarnessWatchdog(stop)
	ctx := context.Background()
	trace.Log(ctx, "schedcast", "program-start")
	go leakySend(make(chan int))
	go leakySelect(make(chan int), make(chan int))
	done := make(chan bool)
	go func() { done <- true }()
	<-done
	trace.Log(ctx, "schedcast", "program-end")
	runtime.Gosched()
	time.Sleep(3 * time.Millisecond)
	close(stop)
	time.Sleep(time.Millisecond)
	trace.Stop()
	f.Close()
}
