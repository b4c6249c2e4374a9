package main

import (
	"fmt"
	"sync"
	"time"
)

type config struct {
	mu     sync.RWMutex
	values map[string]string
}

func (c *config) lookup(k string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.values[k]
}

func (c *config) describe() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	time.Sleep(2 * time.Millisecond) // formatting work; the writer queues meanwhile
	return "name=" + c.lookup("name") // bug: recursive read lock
}

func main() {
	c := &config{values: map[string]string{"name": "x"}}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		fmt.Println(c.describe())
	}()
	go func() {
		defer wg.Done()
		time.Sleep(500 * time.Microsecond)
		c.mu.Lock()
		c.values["name"] = "y"
		c.mu.Unlock()
	}()
	wg.Wait()
}
