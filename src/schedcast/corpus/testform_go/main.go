// Command testform turns `main` programs into Go test kernels with Go's own parser:
// func main() is renamed (go/ast), and a _test.go file with a TestXxx that calls the
// renamed body is added. With "copies" > 1 the test runs the body in that many
// goroutines at once, sleeps 100 ms and waits for them (the stress shape of the
// leak-profile kernels and their harness).
// Input on stdin: a JSON list of {"id", "files", "copies"}; output on stdout: a JSON
// list of {"id", "files"} or {"id", "error"}, in the same order.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"sort"
)

type request struct {
	ID    string            `json:"id"`
	Files  map[string]string `json:"files"`
	Copies int               `json:"copies,omitempty"`
}

type answer struct {
	ID    string            `json:"id"`
	Files map[string]string `json:"files,omitempty"`
	Error string            `json:"error,omitempty"`
}

const bodyName = "programBody"
const testName = "TestProgram"

func convert(req request) answer {
	fset := token.NewFileSet()
	names := make([]string, 0, len(req.Files))
	for name := range req.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	parsed := map[string]*ast.File{}
	used := map[string]bool{}
	var mainFile string
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, req.Files[name], parser.ParseComments)
		if err != nil {
			return answer{ID: req.ID, Error: err.Error()}
		}
		if f.Name.Name != "main" {
			return answer{ID: req.ID, Error: fmt.Sprintf("%s: package %s, not main", name, f.Name.Name)}
		}
		parsed[name] = f
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					used[d.Name.Name] = true
					if d.Name.Name == "main" {
						if mainFile != "" {
							return answer{ID: req.ID, Error: "func main is declared twice"}
						}
						mainFile = name
					}
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, id := range s.Names {
							used[id.Name] = true
						}
					case *ast.TypeSpec:
						used[s.Name.Name] = true
					}
				}
			}
		}
	}
	if mainFile == "" {
		return answer{ID: req.ID, Error: "no func main"}
	}
	body, test := bodyName, testName
	for i := 2; used[body]; i++ {
		body = fmt.Sprintf("%s%d", bodyName, i)
	}
	for i := 2; used[test]; i++ {
		test = fmt.Sprintf("%s%d", testName, i)
	}
	out := map[string]string{}
	for _, name := range names {
		f := parsed[name]
		if name == mainFile {
			for _, decl := range f.Decls {
				if d, ok := decl.(*ast.FuncDecl); ok && d.Recv == nil && d.Name.Name == "main" {
					d.Name.Name = body
				}
			}
		}
		var buf bytes.Buffer
		if err := format.Node(&buf, fset, f); err != nil {
			return answer{ID: req.ID, Error: err.Error()}
		}
		out[name] = buf.String()
	}
	testFile := "program_test.go"
	for i := 2; req.Files[testFile] != ""; i++ {
		testFile = fmt.Sprintf("program%d_test.go", i)
	}
	src := fmt.Sprintf("package main\n\nimport \"testing\"\n\n// %s runs the program's main body as a test.\nfunc %s(t *testing.T) {\n\t%s()\n}\n", test, test, body)
	if req.Copies > 1 {
		src = fmt.Sprintf(`package main

import (
	programsync "sync"
	"testing"
	programtime "time"
)

// %s runs %d copies of the program's main body at once and waits for them.
// Each copy is started the way the leak-profile kernels start their code: by a
// goroutine that starts it and returns at once. As in their harness, the test
// then sleeps while the copies run (a deferred 100 ms sleep); it waits for
// the copies after that.
func %s(t *testing.T) {
	var copies programsync.WaitGroup
	defer func() {
		programtime.Sleep(100 * programtime.Millisecond)
		copies.Wait()
	}()
	for i := 0; i < %d; i++ {
		copies.Add(1)
		go func() {
			go func() {
				defer copies.Done()
				%s()
			}()
		}()
	}
}
`, test, req.Copies, test, req.Copies, body)
	}
	formatted, err := format.Source([]byte(src))
	if err != nil {
		return answer{ID: req.ID, Error: err.Error()}
	}
	out[testFile] = string(formatted)
	return answer{ID: req.ID, Files: out}
}

func main() {
	var reqs []request
	if err := json.NewDecoder(os.Stdin).Decode(&reqs); err != nil {
		fmt.Fprintln(os.Stderr, "testform: bad input:", err)
		os.Exit(2)
	}
	answers := make([]answer, len(reqs))
	for i, r := range reqs {
		answers[i] = convert(r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		fmt.Fprintln(os.Stderr, "testform:", err)
		os.Exit(1)
	}
}
