package main

import "fmt"

type job struct {
	id   int
	done chan struct{} // never made: stays nil
}

func main() {
	j := &job{id: 1}
	go func() {
		fmt.Println("working on job", j.id)
		if j.done != nil {
			close(j.done)
		}
	}()
	<-j.done // receive from a nil channel blocks forever
}
