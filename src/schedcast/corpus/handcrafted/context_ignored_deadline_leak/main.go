package main

import (
	"context"
	"fmt"
	"time"
)

func backend(answer chan<- int) {
	x := 0
	for i := 0; i < 10_000_000; i++ { // slow computation, longer than the deadline
		x += i % 13
	}
	answer <- x // bug: nobody listens any more
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Microsecond)
	defer cancel()
	answer := make(chan int)
	go backend(answer)
	select {
	case v := <-answer:
		fmt.Println("answer", v)
	case <-ctx.Done():
		fmt.Println("deadline:", ctx.Err())
	}
}
