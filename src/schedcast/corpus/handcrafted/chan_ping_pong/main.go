package main

import "fmt"

func player(name string, in <-chan int, out chan<- int, done chan<- string) {
	for ball := range in {
		if ball >= 10 {
			close(out)
			done <- name
			return
		}
		out <- ball + 1
	}
	done <- name
}

func main() {
	ping, pong := make(chan int), make(chan int)
	done := make(chan string)
	go player("ping", ping, pong, done)
	go player("pong", pong, ping, done)
	ping <- 0
	fmt.Println(<-done, "stopped first")
	fmt.Println(<-done, "stopped second")
}
