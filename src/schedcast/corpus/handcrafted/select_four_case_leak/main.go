package main

import "fmt"

type service struct {
	requests  chan int
	config    chan string
	heartbeat chan struct{}
	quit      chan struct{}
	replies   chan int
}

func (s *service) run() {
	factor := 1
	beats := 0
	for {
		select {
		case r := <-s.requests:
			s.replies <- r * factor
		case c := <-s.config:
			factor = len(c)
		case <-s.heartbeat:
			beats++
		case <-s.quit:
			return
		}
	}
}

func main() {
	s := &service{
		requests:  make(chan int),
		config:    make(chan string),
		heartbeat: make(chan struct{}),
		quit:      make(chan struct{}),
		replies:   make(chan int),
	}
	go s.run()
	s.config <- "triple"
	s.heartbeat <- struct{}{}
	for i := 1; i <= 3; i++ {
		s.requests <- i
		fmt.Println(<-s.replies)
	}
	// bug: nobody closes s.quit
}
