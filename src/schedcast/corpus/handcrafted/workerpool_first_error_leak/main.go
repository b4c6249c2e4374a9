package main

import (
	"errors"
	"fmt"
)

type outcome struct {
	job int
	err error
}

func worker(jobs <-chan int, out chan<- outcome) {
	for j := range jobs {
		var err error
		if j == 2 {
			err = errors.New("job 2 failed")
		}
		sum := 0
		for i := 0; i < 500*j; i++ {
			sum += i % 7
		}
		out <- outcome{j, err}
	}
}

func main() {
	jobs := make(chan int, 6)
	out := make(chan outcome)
	for w := 0; w < 3; w++ {
		go worker(jobs, out)
	}
	for j := 0; j < 6; j++ {
		jobs <- j
	}
	close(jobs)
	for i := 0; i < 6; i++ {
		o := <-out
		if o.err != nil {
			fmt.Println("abort:", o.err) // bug: returns while workers still send
			return
		}
	}
	fmt.Println("all jobs done")
}
