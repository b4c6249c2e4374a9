package main

import (
	"fmt"
	"sync"
)

type result struct {
	job, value int
}

func worker(jobs <-chan int, results chan<- result, wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range jobs {
		v := 1
		for k := 0; k < j; k++ {
			v = (v * 3) % 1009
		}
		results <- result{j, v}
	}
}

func main() {
	jobs := make(chan int)
	results := make(chan result, 10)
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go worker(jobs, results, &wg)
	}
	for j := 0; j < 10; j++ {
		jobs <- j * 10
	}
	// bug: close(jobs) is missing
	wg.Wait()
	close(results)
	sum := 0
	for r := range results {
		sum += r.value
	}
	fmt.Println("sum", sum)
}
