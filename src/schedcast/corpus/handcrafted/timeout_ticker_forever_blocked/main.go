package main

import (
	"fmt"
	"sync/atomic"
	"time"
)

func main() {
	var ready atomic.Bool // nobody sets it
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	checks := 0
	for range ticker.C {
		checks++
		if ready.Load() {
			fmt.Println("ready after", checks, "checks")
			return
		}
	}
}
