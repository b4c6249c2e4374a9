package main

import (
	"errors"
	"fmt"
	"sync"
)

type store struct {
	mu   sync.Mutex
	data map[string]int
}

func (s *store) put(k string, v int) error {
	s.mu.Lock()
	if v < 0 {
		return errors.New("negative value") // bug: returns with the lock held
	}
	s.data[k] = v
	s.mu.Unlock()
	return nil
}

func main() {
	s := &store{data: map[string]int{}}
	var wg sync.WaitGroup
	for i, v := range []int{1, -2, 3, 4} {
		wg.Add(1)
		go func(k string, v int) {
			defer wg.Done()
			if err := s.put(k, v); err != nil {
				fmt.Println("put:", err)
			}
		}(fmt.Sprint("k", i), v)
	}
	wg.Wait()
	s.mu.Lock() // blocks for good if a put returned with the lock held
	fmt.Println("stored", len(s.data))
	s.mu.Unlock()
}
