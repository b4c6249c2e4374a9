package main

import (
	"context"
	"fmt"
	"sync"
)

func worker(ctx context.Context, id int, ticks chan<- int, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ticks <- id:
		}
	}
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan int)
	var wg sync.WaitGroup
	for id := 0; id < 3; id++ {
		wg.Add(1)
		go worker(ctx, id, ticks, &wg)
	}
	for i := 0; i < 9; i++ {
		<-ticks
	}
	cancel()
	wg.Wait()
	fmt.Println("stopped")
}
