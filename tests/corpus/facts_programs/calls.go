// Calls of the program's own functions: a call stands for what the callee does first,
// and for what follows the call where the callee can return without an operation.
// Annotated like every_op.go ("want: OP -> NEXT...").
package main

import (
	"fmt"
	"sync"
)

type server struct {
	mu   sync.Mutex
	reqs chan int
}

type starter interface{ start() }

func (s *server) start() { // want: func_start -> go
	go s.serve() // want: go -> return
} // want: func_end ->

func (s *server) serve() { // want: func_start -> recv
	for r := range s.reqs { // want: recv -> mutex_lock return
		s.mu.Lock()   // want: mutex_lock -> mutex_unlock
		fmt.Println(r) // not a program function: transparent
		s.mu.Unlock() // want: mutex_unlock -> recv
	}
} // want: func_end ->

func helper(s *server) { // want: func_start -> go
	plain()   // no operation and it returns: transparent
	s.start() // two calls deep: its go statement
} // want: func_end ->

func plain() { // want: func_start -> return
	_ = 1 + 1
} // want: func_end ->

// countdown calls itself: the passes stop all the same. The first pass reads every
// call as transparent, so "return" stays among its first operations (an over-approximation).
func countdown(n int, done chan bool) { // want: func_start -> return send
	if n == 0 {
		done <- true // want: send -> return
		return       // want: return ->
	}
	countdown(n-1, done)
} // want: func_end ->

func forever(c chan int) { // want: func_start -> send
	for {
		c <- 1 // want: send -> send
	}
} // want: func_end ->

func main() { // want: func_start -> go
	s := &server{reqs: make(chan int)}
	go helper(s) // want: go -> send
	s.reqs <- 1  // want: send -> go send
	done := make(chan bool, 1)
	countdown(3, done)
	var st starter = s
	st.start() // an interface method: transparent
	c := make(chan int)
	go forever(c) // want: go -> recv
	<-c           // want: recv -> send
	forever(c)    // it never returns: nothing after it is reached from here
	close(c)      // want: close -> return
} // want: func_end ->
