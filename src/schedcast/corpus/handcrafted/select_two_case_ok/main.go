package main

import (
	"fmt"
	"strings"
)

func eventLoop(messages <-chan string, stop <-chan struct{}, handled chan<- int, exited chan<- struct{}) {
	defer close(exited)
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
	exited := make(chan struct{})
	go eventLoop(messages, stop, handled, exited)
	for _, m := range []string{"alpha", "beta", "gamma", "delta", "epsilon"} {
		messages <- m
		fmt.Println("handled", <-handled)
	}
	close(stop)
	<-exited
}
