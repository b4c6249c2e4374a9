// select with several cases, a timeout, a default case and context cancellation.
package main

import (
	"context"
	"os"
	"runtime/trace"
	"time"
)

func worker(ctx context.Context, jobs <-chan int, results chan<- int) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			results <- j * 2
		}
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
	ctx, cancel := context.WithCancel(context.Background())
	jobs := make(chan int)
	results := make(chan int, 2)
	for i := 0; i < 3; i++ {
		go worker(ctx, jobs, results)
	}
	got := 0
	for i := 0; i < 12; i++ {
		select {
		case jobs <- i:
		case r := <-results:
			got += r
		case <-time.After(50 * time.Millisecond):
		}
	}
	quit := make(chan struct{})
	polled := 0
	go func() { time.Sleep(2 * time.Millisecond); close(quit) }()
loop:
	for {
		select {
		case <-quit:
			break loop
		default:
			polled++
			time.Sleep(200 * time.Microsecond)
		}
	}
	cancel()
	time.Sleep(2 * time.Millisecond)
	trace.Stop()
	f.Close()
	_ = got
}
