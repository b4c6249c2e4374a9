package main

import (
	"fmt"
	"sync"
)

type server struct {
	mu       sync.Mutex
	cond     *sync.Cond
	draining bool
	served   int
}

func (s *server) drainer() {
	s.mu.Lock()
	for !s.draining {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

func main() {
	s := &server{}
	s.cond = sync.NewCond(&s.mu)
	go s.drainer()
	for i := 0; i < 5; i++ {
		s.mu.Lock()
		s.served++
		s.mu.Unlock()
	}
	fmt.Println("served", s.served)
	// bug: returns without setting draining and broadcasting
}
