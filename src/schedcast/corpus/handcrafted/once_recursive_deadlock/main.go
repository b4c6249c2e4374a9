package main

import (
	"fmt"
	"sync"
)

type client struct {
	once sync.Once
	addr string
}

func (c *client) init() {
	c.once.Do(func() {
		c.addr = c.defaultAddr()
	})
}

func (c *client) defaultAddr() string {
	c.init() // bug: re-enters once.Do while it is running
	return "localhost:80"
}

func main() {
	c := &client{}
	done := make(chan struct{})
	go func() {
		c.init()
		close(done)
	}()
	<-done
	fmt.Println(c.addr)
}
