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
	results := make(chan uint32, 2) // room for two of the three results nobody reads
	for id := 0; id < 4; id++ {
		go checksum(id, results)
	}
	fmt.Printf("first checksum %08x\n", <-results)
}
