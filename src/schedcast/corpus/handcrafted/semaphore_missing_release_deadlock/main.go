package main

import (
	"fmt"
	"sync"
)

func download(id int, sem chan struct{}) error {
	sem <- struct{}{}
	if id%2 == 1 {
		return fmt.Errorf("download %d failed", id) // bug: slot never released
	}
	<-sem
	return nil
}

func main() {
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			if err := download(id, sem); err != nil {
				fmt.Println(err)
			}
		}(i)
	}
	wg.Wait()
}
