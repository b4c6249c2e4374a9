package main

import (
	"fmt"
	"sync"
)

func main() {
	queue := make(chan int, 3)
	var producers, consumers sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for p := 0; p < 2; p++ {
		producers.Add(1)
		go func(base int) {
			defer producers.Done()
			for i := 0; i < 8; i++ {
				queue <- base + i
			}
		}(p * 100)
	}
	for c := 0; c < 2; c++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for v := range queue {
				mu.Lock()
				total += v
				mu.Unlock()
			}
		}()
	}
	producers.Wait()
	close(queue)
	consumers.Wait()
	fmt.Println("total", total)
}
