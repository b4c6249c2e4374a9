package main

// Two goroutines hand a value back and forth four times over unbuffered channels.
// With GOMAXPROCS=1 every run takes the same interleaving, so the real continuation
// of every prefix is known exactly.
func main() {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for i := 0; i < 4; i++ {
			v := <-ping
			pong <- v
		}
	}()
	for i := 0; i < 4; i++ {
		ping <- i
		<-pong
	}
}
