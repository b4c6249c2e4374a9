// Channels: an unbuffered producer/consumer pair, a buffered pipeline and a fan-in.
package main

import (
	"os"
	"runtime/trace"
	"sync"
)

func producer(out chan<- int, n int) {
	for i := 0; i < n; i++ {
		out <- i
	}
	close(out)
}

func square(in <-chan int, out chan<- int) {
	for v := range in {
		out <- v * v
	}
	close(out)
}

func fanIn(chans ...<-chan int) <-chan int {
	out := make(chan int)
	var wg sync.WaitGroup
	for _, c := range chans {
		wg.Add(1)
		go func(c <-chan int) {
			defer wg.Done()
			for v := range c {
				out <- v
			}
		}(c)
	}
	go func() { wg.Wait(); close(out) }()
	return out
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	a := make(chan int)
	b := make(chan int, 4)
	go producer(a, 20)
	go square(a, b)
	sum := 0
	for v := range b {
		sum += v
	}
	c1, c2, c3 := make(chan int), make(chan int), make(chan int)
	go producer(c1, 5)
	go producer(c2, 5)
	go producer(c3, 5)
	for v := range fanIn(c1, c2, c3) {
		sum += v
	}
	trace.Stop()
	f.Close()
	if sum == 0 {
		os.Exit(1)
	}
}
