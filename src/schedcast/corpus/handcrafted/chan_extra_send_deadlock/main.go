package main

import "fmt"

func server(requests <-chan int, replies chan<- int) {
	for i := 0; i < 3; i++ { // serves a fixed quota, then quits
		r := <-requests
		replies <- r * r
	}
}

func main() {
	requests := make(chan int)
	replies := make(chan int)
	go server(requests, replies)
	for i := 1; i <= 4; i++ {
		requests <- i // the fourth send has no receiver
		fmt.Println(<-replies)
	}
}
