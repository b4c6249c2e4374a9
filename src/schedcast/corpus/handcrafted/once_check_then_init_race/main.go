package main

import (
	"fmt"
	"sync"
)

var table map[string]int

func lookup(k string) int {
	if table == nil { // bug: check-then-act without synchronisation
		table = map[string]int{"a": 1, "b": 2, "c": 3}
	}
	return table[k]
}

func main() {
	var wg sync.WaitGroup
	sums := make([]int, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sums[i] = lookup("a") + lookup("c")
		}(i)
	}
	wg.Wait()
	fmt.Println(sums)
}
