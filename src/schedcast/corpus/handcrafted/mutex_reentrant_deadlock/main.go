package main

import (
	"fmt"
	"sync"
)

type account struct {
	mu      sync.Mutex
	balance int
}

func (a *account) Balance() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.balance
}

func (a *account) Withdraw(n int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Balance() < n { // bug: Balance locks a.mu again
		return false
	}
	a.balance -= n
	return true
}

func main() {
	a := &account{balance: 10}
	done := make(chan bool)
	go func() { done <- a.Withdraw(3) }()
	fmt.Println("withdrew", <-done)
}
