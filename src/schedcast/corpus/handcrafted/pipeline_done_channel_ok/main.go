package main

import (
	"fmt"
	"strconv"
	"sync"
)

func produce(done <-chan struct{}, wg *sync.WaitGroup, n int) <-chan string {
	out := make(chan string)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		for i := 0; i < n; i++ {
			select {
			case out <- strconv.Itoa(i * 7):
			case <-done:
				return
			}
		}
	}()
	return out
}

func parse(done <-chan struct{}, wg *sync.WaitGroup, in <-chan string) <-chan int {
	out := make(chan int)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		for s := range in {
			v, _ := strconv.Atoi(s)
			select {
			case out <- v:
			case <-done:
				return
			}
		}
	}()
	return out
}

func main() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	values := parse(done, &wg, produce(done, &wg, 10))
	for i := 0; i < 3; i++ {
		fmt.Println(<-values)
	}
	close(done)
	wg.Wait()
}
