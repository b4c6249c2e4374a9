package main

import (
	"fmt"
	"sync"
)

func main() {
	jobs := make(chan int, 8)
	total := 0
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := 0
			for j := range jobs {
				local += j * j
			}
			total += local // bug: every worker merges into total without a lock
		}()
	}
	for j := 1; j <= 8; j++ {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	fmt.Println("total", total)
}
