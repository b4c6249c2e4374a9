package main

import (
	"fmt"
	"sync"
)

func main() {
	jobs := make(chan int, 4)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				_ = j * j
			}
		}()
	}
	for i := 0; i < 4; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Println("workers done")
	close(jobs) // panics: close of closed channel
}
