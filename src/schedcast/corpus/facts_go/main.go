// Command facts lists the concurrency operations of Go programs, per source line,
// and what each goroutine can do next at every site. It is schedcast's static
// source analyzer (schedcast.corpus.facts builds and runs it).
//
// It reads one JSON object on stdin:
//
//	{"max_bytes": N, "programs": [{"id": "...", "go_version": "go1.22", "files": {"main.go": "..."}}]}
//
// and writes one JSON array on stdout, one record per program:
//
//	{"id": "...", "typed": true, "errors": [], "sites": [{"file", "line", "op", "func", "detail", "next"}]}
//
// It parses (go/parser) and type-checks (go/types, standard library imported from
// GOROOT source) the programs; it never builds or runs them. Type information
// decides whether a call is a sync.Mutex lock, a WaitGroup wait and so on; where
// type-checking fails, the call's syntax decides and the site says "guessed".
// A file that does not parse is left out and named in the program's errors.
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

type program struct {
	ID        string            `json:"id"`
	GoVersion string            `json:"go_version"`
	Files     map[string]string `json:"files"`
}

type request struct {
	MaxBytes int64     `json:"max_bytes"`
	Programs []program `json:"programs"`
}

type site struct {
	File   string         `json:"file"`
	Line   int            `json:"line"`
	Op     string         `json:"op"`
	Func   string         `json:"func"`
	Detail map[string]any `json:"detail"`
	Next   []string       `json:"next"`

	next opSet
	pos  token.Pos
}

type result struct {
	ID     string   `json:"id"`
	Typed  bool     `json:"typed"`
	Errors []string `json:"errors"`
	Sites  []*site  `json:"sites"`
}

// opReturn in a next set: the function returns with no concurrency operation in between.
const opReturn = "return"

type opSet map[string]bool

func setOf(ops ...string) opSet {
	s := opSet{}
	for _, op := range ops {
		s[op] = true
	}
	return s
}

func union(sets ...opSet) opSet {
	out := opSet{}
	for _, s := range sets {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

func (s opSet) equal(t opSet) bool {
	if len(s) != len(t) {
		return false
	}
	for k := range s {
		if !t[k] {
			return false
		}
	}
	return true
}

func (s opSet) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The shared state of one run: one file set and one importer, so every program of
// a batch reuses the standard library packages type-checked for the first one.
var (
	fset = token.NewFileSet()
	imp  = importer.ForCompiler(fset, "source", nil).(types.ImporterFrom)
)

func main() {
	// -max-memory BYTES: limit this process's address space, then start again under
	// the limit (the Go runtime reserves its address space at start, so a limit set
	// later would not hold), with a soft heap limit at half of it.
	if len(os.Args) == 3 && os.Args[1] == "-max-memory" {
		limit, err := strconv.ParseUint(os.Args[2], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "facts: bad -max-memory:", os.Args[2])
			os.Exit(2)
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			fmt.Fprintln(os.Stderr, "facts: cannot limit memory:", err)
			os.Exit(2)
		}
		self, err := os.Executable()
		if err == nil {
			env := append(os.Environ(), fmt.Sprintf("GOMEMLIMIT=%d", limit/2))
			err = syscall.Exec(self, os.Args[:1], env)
		}
		fmt.Fprintln(os.Stderr, "facts: cannot restart under the memory limit:", err)
		os.Exit(2)
	}
	var req request
	limit := int64(256 << 20)
	data, err := io.ReadAll(io.LimitReader(os.Stdin, limit+1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "facts: reading stdin:", err)
		os.Exit(2)
	}
	if int64(len(data)) > limit {
		fmt.Fprintf(os.Stderr, "facts: input larger than %d bytes\n", limit)
		os.Exit(2)
	}
	if err := json.Unmarshal(data, &req); err != nil {
		fmt.Fprintln(os.Stderr, "facts: bad request:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(req.Programs))
	for _, p := range req.Programs {
		results = append(results, analyzeSafely(p, req.MaxBytes))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "facts: writing output:", err)
		os.Exit(2)
	}
}

// analyzeSafely never lets one program stop the batch: an analyzer bug becomes the
// program's error record.
func analyzeSafely(p program, maxBytes int64) (res result) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(tooComplex); ok {
				res = result{ID: p.ID, Errors: []string{fmt.Sprintf("control flow too complex to follow (over %d statements walked)", maxSteps)}, Sites: []*site{}}
				return
			}
			res = result{ID: p.ID, Errors: []string{fmt.Sprintf("analyzer error: %v", r)}, Sites: []*site{}}
		}
	}()
	return analyze(p, maxBytes)
}

func analyze(p program, maxBytes int64) result {
	res := result{ID: p.ID, Errors: []string{}, Sites: []*site{}}
	var total int64
	names := make([]string, 0, len(p.Files))
	for name, text := range p.Files {
		total += int64(len(text))
		names = append(names, name)
	}
	sort.Strings(names)
	if maxBytes > 0 && total > maxBytes {
		res.Errors = append(res.Errors, fmt.Sprintf("source too large: %d bytes (limit %d)", total, maxBytes))
		return res
	}
	var files []*ast.File
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, p.Files[name], parser.SkipObjectResolution)
		if err != nil {
			res.Errors = append(res.Errors, firstLines(err.Error(), 3))
			continue
		}
		files = append(files, f)
	}
	info := &types.Info{
		Types:      map[ast.Expr]types.TypeAndValue{},
		Uses:       map[*ast.Ident]types.Object{},
		Defs:       map[*ast.Ident]types.Object{},
		Selections: map[*ast.SelectorExpr]*types.Selection{},
	}
	typeErrors := 0
	if len(files) > 0 {
		conf := types.Config{
			Importer:  imp,
			GoVersion: p.GoVersion,
			Error: func(err error) {
				typeErrors++
				if typeErrors <= 5 {
					res.Errors = append(res.Errors, "type error: "+err.Error())
				}
			},
		}
		// Errors are collected by conf.Error; the info maps keep what could be checked.
		_, _ = conf.Check(files[0].Name.Name, fset, files, info)
	}
	if typeErrors > 5 {
		res.Errors = append(res.Errors, fmt.Sprintf("type error: ... %d more", typeErrors-5))
	}
	res.Typed = len(res.Errors) == 0
	// Calls see their callee's first operations from the pass before: pass k follows
	// chains of k calls. Passes stop when no function's first operations change.
	var a *analyzer
	callees := map[*types.Func]opSet{}
	for pass := 0; pass < maxPasses; pass++ {
		a = &analyzer{info: info, callees: callees, entries: map[*types.Func]opSet{}}
		for _, f := range files {
			a.file(f)
		}
		if sameEntries(a.entries, callees) {
			break
		}
		callees = a.entries
	}
	for _, s := range a.sites {
		s.Next = s.next.sorted()
		if s.Detail == nil {
			s.Detail = map[string]any{}
		}
	}
	sort.SliceStable(a.sites, func(i, j int) bool {
		if a.sites[i].File != a.sites[j].File {
			return a.sites[i].File < a.sites[j].File
		}
		return a.sites[i].pos < a.sites[j].pos
	})
	res.Sites = a.sites
	return res
}

// maxPasses bounds the call depth followed (and the work: each pass walks every function).
const maxPasses = 6

func sameEntries(x, y map[*types.Func]opSet) bool {
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if w, ok := y[k]; !ok || !v.equal(w) {
			return false
		}
	}
	return true
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... %d more", len(lines)-n))
	}
	return strings.Join(lines, "; ")
}

type analyzer struct {
	info  *types.Info
	steps int // statements walked so far: loops nest multiplicatively, so bound the work
	sites []*site
	// What a goroutine can do first when it enters each declared function of the
	// program: `callees` from the previous pass (calls read it), `entries` this pass.
	callees, entries map[*types.Func]opSet
	// Per file: import name -> path (the syntax fallback's way to read time.Sleep).
	imports map[string]string
}

// function is one function body being analyzed: a declaration or a literal.
type function struct {
	name   string
	decl   bool // a declared function (its literals are named name.funcN, not name.N)
	start  token.Pos // the func keyword: the line a goroutine's trace shows when it enters
	body   *ast.BlockStmt
	obj    *types.Func // a declared function's object (nil: a literal, or not type-checked)
	sites  map[ast.Node]*site
	calls  map[ast.Node]*types.Func // calls of the program's own declared functions
	skip   map[ast.Node]bool // nodes that are not sites of their own (select comm ops, go calls)
	defers []deferred        // deferred sites in source order
	labels map[string]*target
	loops  []*target
	// Literals inside this body, named in source order; each is its own function.
	literals []*function
}

// deferred is a deferred call and the statement list that holds it: it counts at
// the exits inside that list after it (an approximation of "registered on every path").
type deferred struct {
	pos, from, to token.Pos
	site          *site
}

// exitAt is what the goroutine does first when the function exits at pos: its
// active deferred calls, last-in first-out (an empty set when there are none);
// it also links those deferred calls to each other.
func (fn *function) exitAt(pos token.Pos) opSet {
	after := opSet{}
	for _, d := range fn.defers {
		if d.site != nil && d.pos < pos && d.from <= pos && pos <= d.to {
			for k := range after {
				d.site.next[k] = true
			}
			after = setOf(d.site.Op)
		}
	}
	return after
}

// target is where break and continue lead inside a loop, switch or select.
type target struct {
	label string
	brk   opSet
	cont  opSet // nil for switch and select
}

func (a *analyzer) file(f *ast.File) {
	a.imports = map[string]string{}
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue
		}
		name := path.Base(p)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		a.imports[name] = p
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Body != nil {
				obj, _ := a.info.Defs[d.Name].(*types.Func)
				a.function(&function{name: funcName(d), decl: true, start: d.Type.Func, body: d.Body, obj: obj})
			}
		case *ast.GenDecl:
			// Package-level variables initialised with function literals.
			for _, spec := range d.Specs {
				if vs, ok := spec.(*ast.ValueSpec); ok {
					for i, v := range vs.Values {
						name := "glob"
						if i < len(vs.Names) {
							name = vs.Names[i].Name
						}
						a.literalsIn(v, name)
					}
				}
			}
		}
	}
}

// literalsIn analyzes the function literals of an expression outside any function.
func (a *analyzer) literalsIn(e ast.Node, name string) {
	n := 0
	ast.Inspect(e, func(node ast.Node) bool {
		if lit, ok := node.(*ast.FuncLit); ok {
			n++
			a.function(&function{name: fmt.Sprintf("%s.func%d", name, n), start: lit.Type.Func, body: lit.Body})
			return false
		}
		return true
	})
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	star := false
	if s, ok := t.(*ast.StarExpr); ok {
		star, t = true, s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	recv := types.ExprString(t)
	if star {
		return "(*" + recv + ")." + d.Name.Name
	}
	return recv + "." + d.Name.Name
}

// function collects the sites of one body, computes what follows each, and then
// does the same for the literals inside it.
func (a *analyzer) function(fn *function) {
	fn.sites = map[ast.Node]*site{}
	fn.calls = map[ast.Node]*types.Func{}
	fn.skip = map[ast.Node]bool{}
	fn.labels = map[string]*target{}
	a.collect(fn)
	// Deferred calls run last-in first-out when the function returns.
	end := a.newSite(fn, fn.body.Rbrace, "func_end", nil)
	end.next = fn.exitAt(fn.body.Rbrace)
	for node, s := range fn.sites {
		if s.Op == opReturn {
			s.next = fn.exitAt(node.Pos())
		}
	}
	entry := a.walkList(fn, fn.body.List, setOf(opReturn))
	if fn.obj != nil {
		a.entries[fn.obj] = entry
	}
	// What a goroutine can do first when it enters the function: a goroutine that has
	// just started shows the func line as its site in the trace.
	if fn.start.IsValid() {
		start := a.newSite(fn, fn.start, "func_start", nil)
		start.next = entry
	}
	for _, lit := range fn.literals {
		a.function(lit)
	}
}

func (a *analyzer) newSite(fn *function, pos token.Pos, op string, detail map[string]any) *site {
	p := fset.Position(pos)
	s := &site{File: p.Filename, Line: p.Line, Op: op, Func: fn.name, Detail: detail, next: opSet{}, pos: pos}
	a.sites = append(a.sites, s)
	return s
}

// collect records every site of the body (literals excluded: they are functions of their own).
func (a *analyzer) collect(fn *function) {
	deferCalls := map[ast.Node]int{} // deferred call -> index in fn.defers
	var scopes []ast.Node            // enclosing statement lists: blocks and case clauses
	var stack []ast.Node
	ast.Inspect(fn.body, func(node ast.Node) bool {
		if node == nil {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(scopes) > 0 && scopes[len(scopes)-1] == top {
				scopes = scopes[:len(scopes)-1]
			}
			return true
		}
		if _, lit := node.(*ast.FuncLit); !lit {
			stack = append(stack, node)
			switch node.(type) {
			case *ast.BlockStmt, *ast.CaseClause, *ast.CommClause:
				scopes = append(scopes, node)
			}
		}
		switch n := node.(type) {
		case *ast.FuncLit:
			k := len(fn.literals) + 1
			name := fmt.Sprintf("%s.%d", fn.name, k)
			if fn.decl {
				name = fmt.Sprintf("%s.func%d", fn.name, k)
			}
			fn.literals = append(fn.literals, &function{name: name, start: n.Type.Func, body: n.Body})
			return false
		case *ast.SelectStmt:
			a.selectSite(fn, n)
		case *ast.GoStmt:
			fn.skip[n.Call] = true
			fn.sites[n] = a.newSite(fn, n.Go, "go", map[string]any{"func": a.goTarget(fn, n.Call)})
		case *ast.DeferStmt:
			deferCalls[n.Call] = len(fn.defers)
			scope := scopes[len(scopes)-1]
			fn.defers = append(fn.defers, deferred{pos: n.Pos(), from: scope.Pos(), to: scope.End()})
		case *ast.SendStmt:
			if !fn.skip[n] {
				fn.sites[n] = a.newSite(fn, n.Arrow, "send", nil)
			}
		case *ast.UnaryExpr:
			if n.Op == token.ARROW && !fn.skip[n] {
				fn.sites[n] = a.newSite(fn, n.OpPos, "recv", nil)
			}
		case *ast.RangeStmt:
			if a.isChan(n.X) {
				fn.sites[n] = a.newSite(fn, n.Range, "recv", map[string]any{"range": true})
			}
		case *ast.ReturnStmt:
			fn.sites[n] = a.newSite(fn, n.Return, opReturn, nil)
		case *ast.CallExpr:
			if fn.skip[n] {
				return true
			}
			if op, detail := a.classifyCall(n); op != "" {
				if ns, ok := a.callDuration(n, detail); ok {
					detail["ns"] = ns
				}
				d, isDeferred := deferCalls[n]
				if isDeferred {
					if detail == nil {
						detail = map[string]any{}
					}
					detail["deferred"] = true
				}
				s := a.newSite(fn, n.Lparen, op, detail)
				fn.sites[n] = s
				if isDeferred {
					fn.defers[d].site = s
				}
			} else if _, isDeferred := deferCalls[n]; !isDeferred {
				if callee := a.callee(n); callee != nil {
					fn.calls[n] = callee
				}
			}
		}
		return true
	})
}

func (a *analyzer) selectSite(fn *function, n *ast.SelectStmt) {
	cases, hasDefault := 0, false
	kinds := []string{}
	lines := []int{}
	timerNs := int64(-1)
	for _, stmt := range n.Body.List {
		cc := stmt.(*ast.CommClause)
		if cc.Comm == nil {
			hasDefault = true
			continue
		}
		cases++
		lines = append(lines, fset.Position(cc.Case).Line)
		if ns, ok := a.timerCase(cc.Comm); ok && (timerNs < 0 || ns < timerNs) {
			timerNs = ns
		}
		if op := commOp(cc.Comm); op != nil {
			fn.skip[op] = true
			if _, ok := op.(*ast.SendStmt); ok {
				kinds = append(kinds, "send")
			} else {
				kinds = append(kinds, "recv")
			}
		}
	}
	detail := map[string]any{"cases": cases, "default": hasDefault, "case_kinds": kinds, "case_lines": lines}
	if timerNs >= 0 {
		detail["timer_ns"] = timerNs
	}
	fn.sites[n] = a.newSite(fn, n.Select, "select", detail)
}

// timerCase is the constant duration of a select case that receives from a timer it
// makes there (`case <-time.After(d):`, `case <-time.NewTimer(d).C:`).
func (a *analyzer) timerCase(comm ast.Stmt) (int64, bool) {
	recv, ok := commOp(comm).(*ast.UnaryExpr)
	if !ok || recv.Op != token.ARROW {
		return 0, false
	}
	x := unparen(recv.X)
	if sel, ok := x.(*ast.SelectorExpr); ok && sel.Sel.Name == "C" {
		x = unparen(sel.X)
	}
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return 0, false
	}
	op, detail := a.classifyCall(call)
	if op != "timer" {
		return 0, false
	}
	return a.callDuration(call, detail)
}

// durationArg: which argument of a timing call is its duration.
var durationArg = map[string]int{
	"time.Sleep": 0, "time.After": 0, "time.NewTimer": 0, "time.Tick": 0, "time.NewTicker": 0, "time.AfterFunc": 0,
	"context.WithTimeout": 1, "context.WithTimeoutCause": 1,
}

// callDuration is the duration in nanoseconds a sleep, timer or context.WithTimeout call
// waits, when its argument is a constant the type checker evaluated (`10 * time.Millisecond`).
func (a *analyzer) callDuration(call *ast.CallExpr, detail map[string]any) (int64, bool) {
	name, _ := detail["call"].(string)
	i, known := durationArg[name]
	if !known || i >= len(call.Args) {
		return 0, false
	}
	tv, ok := a.info.Types[call.Args[i]]
	if !ok || tv.Value == nil {
		return 0, false
	}
	ns, exact := constant.Int64Val(constant.ToInt(tv.Value))
	if !exact || ns < 0 {
		return 0, false
	}
	return ns, true
}

// commOp is the send or receive of a select case (the node that is not a site of its own).
func commOp(comm ast.Stmt) ast.Node {
	switch c := comm.(type) {
	case *ast.SendStmt:
		return c
	case *ast.ExprStmt:
		return unparen(c.X)
	case *ast.AssignStmt:
		if len(c.Rhs) == 1 {
			return unparen(c.Rhs[0])
		}
	}
	return nil
}

func unparen(e ast.Expr) ast.Expr {
	for {
		p, ok := e.(*ast.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}

// ---- what each operation is ---------------------------------------------------

func (a *analyzer) isChan(e ast.Expr) bool {
	tv, ok := a.info.Types[e]
	if !ok || tv.Type == nil {
		return false
	}
	return isChanType(tv.Type)
}

func isChanType(t types.Type) bool {
	switch u := t.Underlying().(type) {
	case *types.Chan:
		return true
	case *types.Interface:
		// A type parameter whose type set holds channels only.
		if _, ok := t.(*types.TypeParam); !ok || u.NumEmbeddeds() == 0 {
			return false
		}
		for i := 0; i < u.NumEmbeddeds(); i++ {
			union, ok := u.EmbeddedType(i).(*types.Union)
			if !ok {
				return isChanType(u.EmbeddedType(i))
			}
			for j := 0; j < union.Len(); j++ {
				if !isChanType(union.Term(j).Type()) {
					return false
				}
			}
		}
		return true
	}
	return false
}

var syncMethods = map[string]map[string]string{
	"Mutex":     {"Lock": "mutex_lock", "Unlock": "mutex_unlock", "TryLock": "mutex_lock"},
	"Locker":    {"Lock": "mutex_lock", "Unlock": "mutex_unlock"},
	"RWMutex":   {"Lock": "rwmutex_lock", "Unlock": "rwmutex_unlock", "RLock": "rwmutex_rlock", "RUnlock": "rwmutex_runlock", "TryLock": "rwmutex_lock", "TryRLock": "rwmutex_rlock"},
	"WaitGroup": {"Add": "wg_add", "Done": "wg_done", "Wait": "wg_wait", "Go": "wg_go"},
	"Cond":      {"Wait": "cond_wait", "Signal": "cond_signal", "Broadcast": "cond_broadcast"},
	"Once":      {"Do": "once_do"},
}

var packageFuncs = map[string]map[string]string{
	"time":    {"Sleep": "sleep", "After": "timer", "NewTimer": "timer", "Tick": "timer", "NewTicker": "timer", "AfterFunc": "timer"},
	"runtime": {"Gosched": "gosched", "GC": "gc"},
	"context": {
		"WithCancel": "ctx_with_cancel", "WithCancelCause": "ctx_with_cancel",
		"WithTimeout": "ctx_with_cancel", "WithTimeoutCause": "ctx_with_cancel",
		"WithDeadline": "ctx_with_cancel", "WithDeadlineCause": "ctx_with_cancel",
	},
}

// calledExpr is the expression naming the function a call calls, without parentheses
// or type arguments.
func calledExpr(call *ast.CallExpr) ast.Expr {
	fun := unparen(call.Fun)
	switch x := fun.(type) {
	case *ast.IndexExpr:
		fun = x.X
	case *ast.IndexListExpr:
		fun = x.X
	}
	return fun
}

// classifyCall names the concurrency operation a call performs, or "".
func (a *analyzer) classifyCall(call *ast.CallExpr) (string, map[string]any) {
	switch f := calledExpr(call).(type) {
	case *ast.Ident:
		obj, known := a.info.Uses[f]
		if !known {
			switch {
			case f.Name == "close":
				return "close", map[string]any{"guessed": true}
			case strings.HasPrefix(f.Name, "cancel"):
				return "ctx_cancel", map[string]any{"guessed": true}
			}
			return "", nil
		}
		if b, ok := obj.(*types.Builtin); ok && b.Name() == "close" {
			return "close", nil
		}
		if v, ok := obj.(*types.Var); ok && isCancelFunc(v.Type()) {
			return "ctx_cancel", nil
		}
	case *ast.SelectorExpr:
		obj, known := a.info.Uses[f.Sel]
		if !known {
			return a.guessSelector(f)
		}
		switch o := obj.(type) {
		case *types.Func:
			return classifyFunc(o)
		case *types.Var:
			if isCancelFunc(o.Type()) {
				return "ctx_cancel", nil
			}
		}
	}
	return "", nil
}

func isCancelFunc(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != "context" {
		return false
	}
	return n.Obj().Name() == "CancelFunc" || n.Obj().Name() == "CancelCauseFunc"
}

func classifyFunc(fn *types.Func) (string, map[string]any) {
	if fn.Pkg() == nil {
		return "", nil
	}
	pkg := fn.Pkg().Path()
	sig, _ := fn.Type().(*types.Signature)
	if sig == nil || sig.Recv() == nil {
		if op := packageFuncs[pkg][fn.Name()]; op != "" {
			return op, map[string]any{"call": pkg + "." + fn.Name()}
		}
		return "", nil
	}
	recv := recvTypeName(sig.Recv().Type())
	switch pkg {
	case "sync":
		if op := syncMethods[recv][fn.Name()]; op != "" {
			detail := map[string]any{"type": "sync." + recv}
			if strings.HasPrefix(fn.Name(), "Try") {
				detail["try"] = true
			}
			return op, detail
		}
	case "context":
		if recv == "Context" && fn.Name() == "Done" {
			return "ctx_done", nil
		}
	}
	return "", nil
}

func recvTypeName(t types.Type) string {
	t = types.Unalias(t)
	if p, ok := t.(*types.Pointer); ok {
		t = types.Unalias(p.Elem())
	}
	if n, ok := t.(*types.Named); ok {
		return n.Obj().Name()
	}
	return ""
}

// guessSelector is the syntax fallback for calls that did not type-check.
func (a *analyzer) guessSelector(f *ast.SelectorExpr) (string, map[string]any) {
	guess := map[string]any{"guessed": true}
	if x, ok := f.X.(*ast.Ident); ok {
		if p, isPkg := a.imports[x.Name]; isPkg {
			if op := packageFuncs[p][f.Sel.Name]; op != "" {
				guess["call"] = p + "." + f.Sel.Name
				return op, guess
			}
			return "", nil
		}
	}
	recv := strings.ToLower(types.ExprString(f.X))
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(recv, w) {
				return true
			}
		}
		return false
	}
	switch f.Sel.Name {
	case "Lock", "TryLock":
		if has("rw") {
			return "rwmutex_lock", guess
		}
		return "mutex_lock", guess
	case "Unlock":
		if has("rw") {
			return "rwmutex_unlock", guess
		}
		return "mutex_unlock", guess
	case "RLock":
		return "rwmutex_rlock", guess
	case "RUnlock":
		return "rwmutex_runlock", guess
	case "Wait":
		if has("cond", "cv") {
			return "cond_wait", guess
		}
		return "wg_wait", guess
	case "Signal":
		return "cond_signal", guess
	case "Broadcast":
		return "cond_broadcast", guess
	case "Done":
		if has("ctx", "context") {
			return "ctx_done", guess
		}
		return "wg_done", guess
	case "Add":
		if has("wg", "group") {
			return "wg_add", guess
		}
	case "Go":
		if has("wg", "group") {
			return "wg_go", guess
		}
	case "Do":
		if has("once") {
			return "once_do", guess
		}
	}
	return "", nil
}

// goTarget names the function a go statement starts.
func (a *analyzer) goTarget(fn *function, call *ast.CallExpr) string {
	fun := unparen(call.Fun)
	switch x := fun.(type) {
	case *ast.IndexExpr:
		fun = x.X
	case *ast.IndexListExpr:
		fun = x.X
	}
	switch f := fun.(type) {
	case *ast.FuncLit:
		// Named like the literal collect will register next.
		k := len(fn.literals) + 1
		if fn.decl {
			return fmt.Sprintf("%s.func%d", fn.name, k)
		}
		return fmt.Sprintf("%s.%d", fn.name, k)
	case *ast.SelectorExpr:
		if sel, ok := a.info.Selections[f]; ok && sel.Kind() == types.MethodVal {
			m := sel.Obj()
			recv := recvTypeName(m.Type().(*types.Signature).Recv().Type())
			if _, ptr := types.Unalias(m.Type().(*types.Signature).Recv().Type()).(*types.Pointer); ptr {
				return "(*" + recv + ")." + m.Name()
			}
			return recv + "." + m.Name()
		}
		if obj, ok := a.info.Uses[f.Sel].(*types.Func); ok && obj.Pkg() != nil {
			return obj.Pkg().Path() + "." + obj.Name()
		}
	}
	return types.ExprString(fun)
}

// ---- what comes next ------------------------------------------------------------
//
// walk(stmt, cont) returns the operations a goroutine can reach first when it starts
// executing stmt, given that cont is what it can reach first after stmt; on the way
// it adds to every site inside stmt what can follow it. Loops iterate to a fixed
// point (the sets only grow).

func (a *analyzer) walkList(fn *function, list []ast.Stmt, cont opSet) opSet {
	for i := len(list) - 1; i >= 0; i-- {
		cont = a.walk(fn, list[i], cont)
	}
	return cont
}

// chain links the sites found in nodes (in evaluation order) in front of cont. A call
// of one of the program's own functions stands for what that function does first
// (from the previous pass): its first operations, and cont where it can return
// without one.
func (a *analyzer) chain(fn *function, cont opSet, nodes ...ast.Node) opSet {
	steps := []step{}
	for _, n := range nodes {
		if n != nil && !isNil(n) {
			steps = append(steps, a.exprSites(fn, n)...)
		}
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if s := steps[i].site; s != nil {
			for k := range cont {
				s.next[k] = true
			}
			cont = setOf(s.Op)
			continue
		}
		entry := a.callees[steps[i].callee]
		if len(entry) == 0 {
			continue // not known yet, or nothing reached: the call is transparent
		}
		through := opSet{}
		for k := range entry {
			if k == opReturn {
				for c := range cont {
					through[c] = true
				}
			} else {
				through[k] = true
			}
		}
		cont = through
	}
	return cont
}

// step is one thing a goroutine does while it evaluates an expression: an operation
// (a site) or a call of one of the program's declared functions (callee).
type step struct {
	site   *site
	callee *types.Func
}

// callee is the program's own declared function or concrete method a call names, or
// nil (built-ins, other packages, interface methods, function values: they have no
// entry of their own).
func (a *analyzer) callee(call *ast.CallExpr) *types.Func {
	var id *ast.Ident
	switch f := calledExpr(call).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return nil
	}
	obj, ok := a.info.Uses[id].(*types.Func)
	if !ok {
		return nil
	}
	return obj.Origin()
}

func isNil(n ast.Node) bool {
	switch x := n.(type) {
	case ast.Expr:
		return x == nil
	case ast.Stmt:
		return x == nil
	}
	return false
}

// exprSites lists the sites and program calls inside a node in evaluation order
// (operands before the operation), without entering function literals or nested
// statements' bodies.
func (a *analyzer) exprSites(fn *function, root ast.Node) []step {
	var out []step
	var stack []ast.Node
	ast.Inspect(root, func(n ast.Node) bool {
		if n == nil {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if s, ok := fn.sites[top]; ok {
				if _, isCall := top.(*ast.CallExpr); !(isCall && s.Detail != nil && s.Detail["deferred"] == true) {
					out = append(out, step{site: s})
				}
			} else if c, ok := fn.calls[top]; ok {
				out = append(out, step{callee: c})
			}
			return true
		}
		switch n.(type) {
		case *ast.FuncLit, *ast.BlockStmt:
			return false
		}
		stack = append(stack, n)
		return true
	})
	return out
}

func (a *analyzer) isPanic(e ast.Expr) bool {
	call, ok := unparen(e).(*ast.CallExpr)
	if !ok {
		return false
	}
	switch f := unparen(call.Fun).(type) {
	case *ast.Ident:
		if obj, known := a.info.Uses[f]; known {
			b, isBuiltin := obj.(*types.Builtin)
			return isBuiltin && b.Name() == "panic"
		}
		return f.Name == "panic"
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			p := a.imports[x.Name]
			switch {
			case p == "os" && f.Sel.Name == "Exit":
				return true
			case p == "log" && strings.HasPrefix(f.Sel.Name, "Fatal"), p == "log" && strings.HasPrefix(f.Sel.Name, "Panic"):
				return true
			}
		}
		if obj, ok := a.info.Uses[f.Sel].(*types.Func); ok && obj.Pkg() != nil && obj.Pkg().Path() == "testing" {
			switch obj.Name() {
			case "Fatal", "Fatalf", "FailNow", "Skip", "Skipf", "SkipNow":
				return true
			}
		}
	}
	return false
}

// maxSteps bounds the statements walked per program (nested loops re-walk their
// bodies until nothing changes); a program past it gets an error record.
const maxSteps = 2_000_000

type tooComplex struct{}

func (a *analyzer) walk(fn *function, stmt ast.Stmt, cont opSet) opSet {
	a.steps++
	if a.steps > maxSteps {
		panic(tooComplex{})
	}
	switch s := stmt.(type) {
	case nil:
		return cont
	case *ast.BlockStmt:
		return a.walkList(fn, s.List, cont)
	case *ast.ExprStmt:
		if a.isPanic(s.X) {
			// The function stops here: its deferred calls run, then it is over.
			exit := fn.exitAt(s.Pos())
			if len(exit) == 0 {
				exit = setOf(opReturn)
			}
			return a.chain(fn, exit, s.X)
		}
		return a.chain(fn, cont, s.X)
	case *ast.SendStmt:
		return a.chain(fn, cont, s)
	case *ast.IncDecStmt:
		return a.chain(fn, cont, s.X)
	case *ast.AssignStmt:
		nodes := []ast.Node{}
		for _, e := range s.Rhs {
			nodes = append(nodes, e)
		}
		for _, e := range s.Lhs {
			nodes = append(nodes, e)
		}
		return a.chain(fn, cont, nodes...)
	case *ast.DeclStmt:
		return a.chain(fn, cont, s.Decl)
	case *ast.GoStmt:
		// Operands first (function literals are not entered), then the go statement.
		return a.chain(fn, cont, s)
	case *ast.DeferStmt:
		// The deferred call runs at return; its operands are evaluated here.
		nodes := []ast.Node{}
		if sel, ok := unparen(s.Call.Fun).(*ast.SelectorExpr); ok {
			nodes = append(nodes, sel.X)
		}
		for _, e := range s.Call.Args {
			nodes = append(nodes, e)
		}
		return a.chain(fn, cont, nodes...)
	case *ast.ReturnStmt:
		ret := fn.sites[s]
		nodes := []ast.Node{}
		for _, e := range s.Results {
			nodes = append(nodes, e)
		}
		return a.chain(fn, setOf(ret.Op), nodes...)
	case *ast.LabeledStmt:
		return a.walkLabeled(fn, s.Label.Name, s.Stmt, cont)
	case *ast.BranchStmt:
		return a.branch(fn, s, cont)
	case *ast.IfStmt:
		then := a.walk(fn, s.Body, cont)
		els := cont
		if s.Else != nil {
			els = a.walk(fn, s.Else, cont)
		}
		return a.walk(fn, s.Init, a.chain(fn, union(then, els), s.Cond))
	case *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.SelectStmt:
		return a.walkLabeled(fn, "", s, cont)
	}
	return cont
}

func (a *analyzer) branch(fn *function, s *ast.BranchStmt, cont opSet) opSet {
	var t *target
	if s.Label != nil {
		t = fn.labels[s.Label.Name]
	} else {
		for i := len(fn.loops) - 1; i >= 0; i-- {
			if s.Tok == token.BREAK || fn.loops[i].cont != nil {
				t = fn.loops[i]
				break
			}
		}
	}
	switch s.Tok {
	case token.BREAK:
		if t != nil {
			return t.brk
		}
	case token.CONTINUE:
		if t != nil && t.cont != nil {
			return t.cont
		}
	}
	// goto and fallthrough: fallthrough is handled by the switch; goto is approximated
	// by what follows the statement.
	return cont
}

func (a *analyzer) push(fn *function, label string, t *target) func() {
	t.label = label
	fn.loops = append(fn.loops, t)
	if label != "" {
		fn.labels[label] = t
	}
	return func() {
		fn.loops = fn.loops[:len(fn.loops)-1]
		if label != "" {
			delete(fn.labels, label)
		}
	}
}

const maxIterations = 20

func (a *analyzer) walkLabeled(fn *function, label string, stmt ast.Stmt, cont opSet) opSet {
	switch s := stmt.(type) {
	case *ast.ForStmt:
		head := opSet{}
		for i := 0; i < maxIterations; i++ {
			t := &target{brk: cont}
			pop := a.push(fn, label, t)
			post := a.walk(fn, s.Post, head)
			t.cont = post
			body := a.walk(fn, s.Body, post)
			pop()
			exit := opSet{}
			if s.Cond != nil {
				exit = cont
			}
			next := a.chain(fn, union(body, exit), s.Cond)
			if next.equal(head) {
				break
			}
			head = union(head, next)
		}
		return a.walk(fn, s.Init, head)
	case *ast.RangeStmt:
		rangeSite := fn.sites[s]
		head := opSet{}
		for i := 0; i < maxIterations; i++ {
			t := &target{brk: cont, cont: head}
			pop := a.push(fn, label, t)
			body := a.walk(fn, s.Body, head)
			pop()
			next := union(body, cont)
			if rangeSite != nil {
				for k := range next {
					rangeSite.next[k] = true
				}
				next = setOf(rangeSite.Op)
			}
			if next.equal(head) {
				break
			}
			head = union(head, next)
		}
		return a.chain(fn, head, s.X)
	case *ast.SwitchStmt:
		first := a.clauses(fn, label, s.Body, cont)
		return a.walk(fn, s.Init, a.chain(fn, first, s.Tag))
	case *ast.TypeSwitchStmt:
		first := a.clauses(fn, label, s.Body, cont)
		return a.walk(fn, s.Init, a.walk(fn, s.Assign, first))
	case *ast.SelectStmt:
		sel := fn.sites[s]
		pop := a.push(fn, label, &target{brk: cont})
		defer pop()
		pre := []ast.Node{}
		for _, stmt := range s.Body.List {
			cc := stmt.(*ast.CommClause)
			body := a.walkList(fn, cc.Body, cont)
			for k := range body {
				sel.next[k] = true
			}
			// The channels and sent values are evaluated before the select blocks.
			switch c := cc.Comm.(type) {
			case *ast.SendStmt:
				pre = append(pre, c.Chan, c.Value)
			case *ast.ExprStmt:
				if u, ok := unparen(c.X).(*ast.UnaryExpr); ok {
					pre = append(pre, u.X)
				}
			case *ast.AssignStmt:
				if len(c.Rhs) == 1 {
					if u, ok := unparen(c.Rhs[0]).(*ast.UnaryExpr); ok {
						pre = append(pre, u.X)
					}
				}
			}
		}
		return a.chain(fn, setOf(sel.Op), pre...)
	default:
		return a.walk(fn, stmt, cont)
	}
}

// clauses walks a switch body: the first operations of every clause, and of what
// follows the switch when no clause is the default.
func (a *analyzer) clauses(fn *function, label string, body *ast.BlockStmt, cont opSet) opSet {
	pop := a.push(fn, label, &target{brk: cont})
	defer pop()
	first := opSet{}
	hasDefault := false
	fall := cont // the first operations of the next clause's body, for fallthrough
	for i := len(body.List) - 1; i >= 0; i-- {
		cc := body.List[i].(*ast.CaseClause)
		if cc.List == nil {
			hasDefault = true
		}
		after := cont
		if n := len(cc.Body); n > 0 {
			if br, ok := cc.Body[n-1].(*ast.BranchStmt); ok && br.Tok == token.FALLTHROUGH {
				after = fall
			}
		}
		bodyFirst := a.walkList(fn, cc.Body, after)
		fall = bodyFirst
		nodes := []ast.Node{}
		for _, e := range cc.List {
			nodes = append(nodes, e)
		}
		first = union(first, a.chain(fn, bodyFirst, nodes...))
	}
	if !hasDefault {
		first = union(first, cont)
	}
	return first
}
