package main

import "fmt"

func main() {
	batch := make(chan string, 3)
	items := []string{"a", "b", "c", "d"}
	for _, it := range items {
		batch <- it // the fourth send blocks: the buffer is full and nobody reads yet
	}
	go func() {
		for it := range batch {
			fmt.Println(it)
		}
	}()
	close(batch)
}
