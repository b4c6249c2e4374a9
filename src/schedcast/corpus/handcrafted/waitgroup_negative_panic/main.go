package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fmt.Println("flushing")
	}()
	wg.Wait()
	wg.Done() // bug: a second Done for the same Add panics
}
