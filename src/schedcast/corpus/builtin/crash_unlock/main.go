package main

import (
	"fmt"
	"sync"
)

func main() {
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		mu.Lock()
		fmt.Println("locked once")
		mu.Unlock()
		mu.Unlock() // fatal error: sync: unlock of unlocked mutex
	}()
	<-done
}
