package main

import (
	"fmt"
	"sync"
)

func main() {
	subs := make([]chan int, 3)
	for i := range subs {
		subs[i] = make(chan int)
	}
	var wg sync.WaitGroup
	totals := make([]int, len(subs))
	for i, ch := range subs {
		wg.Add(1)
		go func(i int, ch <-chan int) {
			defer wg.Done()
			for ev := range ch {
				totals[i] += ev
			}
		}(i, ch)
	}
	for ev := 1; ev <= 5; ev++ {
		for _, ch := range subs {
			ch <- ev
		}
	}
	for _, ch := range subs {
		close(ch)
	}
	wg.Wait()
	fmt.Println(totals)
}
