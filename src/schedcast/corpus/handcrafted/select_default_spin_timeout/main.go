package main

import "fmt"

func main() {
	ready := make(chan struct{})
	go func() {
		fmt.Println("initialising")
		// bug: forgets close(ready)
	}()
	polls := 0
	for {
		select {
		case <-ready:
			fmt.Println("ready after", polls, "polls")
			return
		default:
			polls++ // busy-waits instead of blocking
		}
	}
}
