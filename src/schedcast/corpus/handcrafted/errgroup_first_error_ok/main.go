package main

import (
	"errors"
	"fmt"
	"sync"
)

func runAll(tasks []func() error) error {
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func(t func() error) {
			defer wg.Done()
			if err := t(); err != nil {
				once.Do(func() { first = err })
			}
		}(t)
	}
	wg.Wait()
	return first
}

func main() {
	fail := func(i int) func() error {
		return func() error { return errors.New(fmt.Sprint("task ", i, " failed")) }
	}
	err := runAll([]func() error{fail(1), fail(2), fail(3)})
	fmt.Println("first error:", err)
}
