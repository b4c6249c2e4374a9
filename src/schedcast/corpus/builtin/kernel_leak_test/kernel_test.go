package kernel

import (
	"testing"
	"time"
)

func fetch(results chan<- string) {
	time.Sleep(time.Millisecond)
	results <- "late answer" // nobody receives after the timeout
}

func TestFetchTimeout(t *testing.T) {
	results := make(chan string)
	go fetch(results)
	select {
	case r := <-results:
		t.Log(r)
	case <-time.After(100 * time.Microsecond):
		t.Log("timed out")
	}
}
