package main

import (
	"errors"
	"fmt"
)

func lookup(key string, out chan<- int) {
	sum := 0
	for i := 0; i < 2000; i++ { // some real work before the send
		sum += int(key[i%len(key)]) * i
	}
	out <- sum
}

func handle(key string) (int, error) {
	out := make(chan int)
	go lookup(key, out)
	if len(key) < 5 {
		return 0, errors.New("key too short") // returns without draining out
	}
	return <-out, nil
}

func main() {
	_, err := handle("abc")
	fmt.Println("error:", err)
}
