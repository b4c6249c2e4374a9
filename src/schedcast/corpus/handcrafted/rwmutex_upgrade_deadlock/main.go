package main

import (
	"fmt"
	"sync"
)

type table struct {
	mu   sync.RWMutex
	rows map[int]string
}

func (t *table) getOrCreate(k int) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if v, ok := t.rows[k]; ok {
		return v
	}
	t.mu.Lock() // bug: RWMutex cannot be upgraded
	defer t.mu.Unlock()
	t.rows[k] = fmt.Sprint("row", k)
	return t.rows[k]
}

func main() {
	t := &table{rows: map[int]string{}}
	done := make(chan string)
	go func() { done <- t.getOrCreate(7) }()
	fmt.Println(<-done)
}
