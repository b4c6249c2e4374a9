package main

import (
	"fmt"
	"sync"
)

func main() {
	results := make([]int, 4)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			results[n] = n * n // disjoint elements: no race
		}(i)
	}
	wg.Wait()
	fmt.Println(results)
}
