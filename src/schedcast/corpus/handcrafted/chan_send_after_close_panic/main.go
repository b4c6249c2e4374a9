package main

import "fmt"

func produce(ch chan<- int, from, to int, closeWhenDone bool) {
	for i := from; i < to; i++ {
		ch <- i
	}
	if closeWhenDone {
		close(ch) // bug: only the last producer may close
	}
}

func main() {
	ch := make(chan int)
	go produce(ch, 0, 3, true)
	sum := 0
	for v := range ch {
		sum += v
	}
	fmt.Println("first batch", sum)
	produce(ch, 3, 6, false) // panics: send on closed channel
}
