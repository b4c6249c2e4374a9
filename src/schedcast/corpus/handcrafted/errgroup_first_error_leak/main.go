package main

import (
	"errors"
	"fmt"
	"sync"
)

func runAll(tasks []func() error) error {
	errc := make(chan error) // bug: only the first error is ever received
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func(t func() error) {
			defer wg.Done()
			if err := t(); err != nil {
				errc <- err
			}
		}(t)
	}
	go func() {
		wg.Wait()
		close(errc)
	}()
	return <-errc
}

func main() {
	fail := func(i int) func() error {
		return func() error { return errors.New(fmt.Sprint("task ", i, " failed")) }
	}
	err := runAll([]func() error{fail(1), fail(2), fail(3)})
	fmt.Println("first error:", err)
}
