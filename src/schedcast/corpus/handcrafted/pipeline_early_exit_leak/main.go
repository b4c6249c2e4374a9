package main

import (
	"fmt"
	"strconv"
)

func produce(n int) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		for i := 0; i < n; i++ {
			out <- strconv.Itoa(i * 7)
		}
	}()
	return out
}

func parse(in <-chan string) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		for s := range in {
			v, _ := strconv.Atoi(s)
			out <- v
		}
	}()
	return out
}

func main() {
	values := parse(produce(10))
	for i := 0; i < 3; i++ {
		fmt.Println(<-values)
	}
	// bug: returns without telling the stages to stop
}
