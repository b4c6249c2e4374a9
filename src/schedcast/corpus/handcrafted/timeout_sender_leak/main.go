package main

import (
	"fmt"
	"time"
)

func fetch(url string, out chan<- string) {
	n := 0
	for i := 0; i < 20_000_000; i++ { // slow work: longer than the timeout
		n += i & 3
	}
	out <- fmt.Sprintf("body of %s (%d)", url, n)
}

func main() {
	out := make(chan string)
	go fetch("example.org", out)
	select {
	case body := <-out:
		fmt.Println(body)
	case <-time.After(200 * time.Microsecond):
		fmt.Println("timed out")
	}
}
