package main

import "fmt"

func main() {
	results := make(chan int)
	go func() {
		results <- 42
	}()
	fmt.Println("first", <-results)
	fmt.Println("second", <-results) // nobody sends again
}
