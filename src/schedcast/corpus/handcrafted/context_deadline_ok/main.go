package main

import (
	"context"
	"fmt"
	"time"
)

func backend(ctx context.Context, answer chan<- int) {
	x := 0
	for i := 0; i < 3_000_000; i++ {
		x += i % 13
	}
	select {
	case answer <- x:
	case <-ctx.Done(): // the fix: give up with the caller
	}
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Microsecond)
	defer cancel()
	answer := make(chan int)
	go backend(ctx, answer)
	select {
	case v := <-answer:
		fmt.Println("answer", v)
	case <-ctx.Done():
		fmt.Println("deadline:", ctx.Err())
	}
}
