package main

import (
	"fmt"
	"sync/atomic"
)

func main() {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		n := 0
		for !stop.Load() {
			n++
		}
		close(done)
	}()
	fmt.Println("spinning")
	<-done
}
