// Goroutines doing blocking syscalls (file writes, fsync, reads) and allocating
// enough to trigger a garbage collection.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"sync"
)

var keep [][]byte

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "schedcast-syscalls")
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := filepath.Join(dir, fmt.Sprintf("f%d", i))
			w, err := os.Create(p)
			if err != nil {
				panic(err)
			}
			for j := 0; j < 20; j++ {
				w.Write([]byte("schedcast syscall test line\n"))
			}
			w.Sync()
			w.Close()
			data, _ := os.ReadFile(p)
			if len(data) == 0 {
				panic("empty file")
			}
		}(i)
	}
	for i := 0; i < 200; i++ {
		keep = append(keep, make([]byte, 64<<10))
		if len(keep) > 50 {
			keep = keep[:0]
		}
	}
	runtime.GC()
	wg.Wait()
	os.RemoveAll(dir)
	trace.Stop()
	f.Close()
}
