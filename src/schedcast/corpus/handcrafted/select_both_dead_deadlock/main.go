package main

import "fmt"

func worker(input int, results chan<- int, errs chan<- error) {
	if input == 0 {
		return // bug: neither a result nor an error
	}
	if input < 0 {
		errs <- fmt.Errorf("negative input %d", input)
		return
	}
	results <- input * 2
}

func main() {
	results := make(chan int)
	errs := make(chan error)
	go worker(0, results, errs)
	select {
	case r := <-results:
		fmt.Println("result", r)
	case err := <-errs:
		fmt.Println("error", err)
	}
}
