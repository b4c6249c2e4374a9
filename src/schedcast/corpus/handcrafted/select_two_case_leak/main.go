package main

import (
	"fmt"
	"strings"
)

func eventLoop(messages <-chan string, stop <-chan struct{}, handled chan<- int) {
	n := 0
	for {
		select {
		case m := <-messages:
			n += len(strings.ToUpper(m))
			handled <- n
		case <-stop:
			return
		}
	}
}

func main() {
	messages := make(chan string)
	stop := make(chan struct{})
	handled := make(chan int)
	go eventLoop(messages, stop, handled)
	for _, m := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
		messages <- m
		fmt.Println("handled", <-handled)
	}
	// bug: close(stop) is missing; the loop waits in its select forever
}
