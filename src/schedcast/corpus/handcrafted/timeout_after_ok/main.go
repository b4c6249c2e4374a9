package main

import (
	"fmt"
	"time"
)

func fetch(url string, out chan<- string) {
	out <- "body of " + url
}

func main() {
	out := make(chan string, 1)
	go fetch("example.org", out)
	select {
	case body := <-out:
		fmt.Println(body)
	case <-time.After(2 * time.Second):
		fmt.Println("timed out")
	}
}
