package main

import (
	"fmt"
	"sync"
)

func main() {
	tasks := []string{"fetch", "parse", "index"}
	var wg sync.WaitGroup
	wg.Add(len(tasks) + 1) // bug: off by one
	for _, t := range tasks {
		go func(name string) {
			defer wg.Done()
			fmt.Println("done:", name)
		}(t)
	}
	wg.Wait()
}
