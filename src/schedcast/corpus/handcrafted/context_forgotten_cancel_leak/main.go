package main

import (
	"context"
	"fmt"
)

func worker(ctx context.Context, id int, ticks chan<- int) {
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
	_ = cancel // bug: the cancel function is never called
	ticks := make(chan int)
	for id := 0; id < 3; id++ {
		go worker(ctx, id, ticks)
	}
	for i := 0; i < 9; i++ {
		<-ticks
	}
	fmt.Println("got enough ticks")
}
