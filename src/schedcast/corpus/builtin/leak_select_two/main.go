package main

import "fmt"

func worker(requests <-chan int, quit <-chan struct{}, results chan<- int) {
	for {
		select {
		case r := <-requests:
			results <- r * 2
		case <-quit:
			return
		}
	}
}

func main() {
	requests := make(chan int)
	quit := make(chan struct{})
	results := make(chan int, 1)
	go worker(requests, quit, results)
	requests <- 21
	fmt.Println(<-results)
	// Bug: quit is never closed, so the worker waits in its select forever.
}
