package main

import (
	"context"
	"time"
)

const pause = 3 * time.Millisecond

type ticks int

func wait(d time.Duration, c chan int) {
	time.Sleep(d) // not a constant: no duration
	select {
	case <-c:
	case <-time.After(2 * pause):
	case <-time.NewTimer(time.Microsecond).C:
	}
	select {
	case <-c:
	case <-time.After(d):
	}
}

func main() {
	time.Sleep(10 * time.Millisecond)
	time.Sleep(pause)
	time.Sleep(time.Duration(ticks(7)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t := time.NewTimer(250)
	time.AfterFunc(time.Hour, func() {})
	c := make(chan int)
	go wait(pause, c)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
