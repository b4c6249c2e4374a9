package main

import (
	"fmt"
	"sync"
)

func main() {
	numbers := make(chan int)
	squares := make(chan int)
	var wg sync.WaitGroup
	go func() {
		for i := 1; i <= 5; i++ {
			numbers <- i
		}
		close(numbers)
	}()
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range numbers {
				squares <- n * n
			}
		}()
	}
	go func() {
		wg.Wait()
		close(squares)
	}()
	sum := 0
	for s := range squares {
		sum += s
	}
	fmt.Println("sum", sum)
}
