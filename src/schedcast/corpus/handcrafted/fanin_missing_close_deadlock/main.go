package main

import (
	"fmt"
	"sync"
)

func source(name string, n int) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		for i := 0; i < n; i++ {
			out <- fmt.Sprintf("%s-%d", name, i)
		}
	}()
	return out
}

func merge(inputs ...<-chan string) <-chan string {
	out := make(chan string)
	var wg sync.WaitGroup
	for _, in := range inputs {
		wg.Add(1)
		go func(in <-chan string) {
			defer wg.Done()
			for v := range in {
				out <- v
			}
		}(in)
	}
	// bug: nothing closes out after wg.Wait()
	return out
}

func main() {
	count := 0
	for range merge(source("a", 3), source("b", 2), source("c", 4)) {
		count++
	}
	fmt.Println("merged", count)
}
