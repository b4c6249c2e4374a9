package main

import "fmt"

func replica(id int, query string, replies chan<- string) {
	h := 0
	for i := 0; i < 1000*(id+1); i++ {
		h = h*31 + int(query[i%len(query)])
	}
	replies <- fmt.Sprintf("replica %d: %d", id, h)
}

func first(query string) string {
	replies := make(chan string, 3) // the fix: every replica can deliver
	for id := 0; id < 3; id++ {
		go replica(id, query, replies)
	}
	return <-replies
}

func main() {
	fmt.Println(first("select * from t"))
}
