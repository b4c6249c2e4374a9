package main

import "fmt"

func broadcast(events []int, subs []chan int) {
	for _, ev := range events {
		for _, ch := range subs {
			ch <- ev // blocks forever on the subscriber that left
		}
	}
	for _, ch := range subs {
		close(ch)
	}
}

func main() {
	subs := make([]chan int, 3)
	for i := range subs {
		subs[i] = make(chan int)
	}
	left := make(chan int)
	for i, ch := range subs {
		go func(i int, ch <-chan int) {
			seen := 0
			for ev := range ch {
				seen += ev
				if i == 1 && seen >= 3 {
					left <- i
					return // bug: leaves without unsubscribing
				}
			}
		}(i, ch)
	}
	go broadcast([]int{1, 2, 3, 4, 5}, subs)
	fmt.Println("subscriber", <-left, "left; main returns")
}
