package main

import (
	"fmt"
	"hash/crc32"
)

func checksum(id int, results chan<- uint32) {
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i * (id + 1))
	}
	results <- crc32.ChecksumIEEE(data)
}

func main() {
	results := make(chan uint32, 4) // one slot per worker: no send can block
	for id := 0; id < 4; id++ {
		go checksum(id, results)
	}
	fmt.Printf("first checksum %08x\n", <-results)
}
