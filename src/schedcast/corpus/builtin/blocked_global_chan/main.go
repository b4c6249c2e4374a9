package main

import "fmt"

// A package-level channel stays reachable, so the leak detector cannot prove that
// nobody will ever send on it.
var ready = make(chan struct{})

func main() {
	done := make(chan bool)
	go func() {
		<-ready
		done <- true
	}()
	fmt.Println("waiting")
	<-done
}
