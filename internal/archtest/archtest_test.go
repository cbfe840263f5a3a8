package archtest

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/aura-node/aura-node"

// corePackages are the deterministic cores. Packages not written yet are
// skipped.
var corePackages = []string{"facts", "antientropy", "snapshot", "release", "activation"}

// Imports a core must not make itself. "os" and "net" (and their
// subpackages such as os/exec and net/http) are I/O; syscall likewise.
// Pure parsers such as net/url and net/netip stay allowed.
var (
	bannedImports        = []string{"os", "net", "syscall", "io/ioutil"}
	bannedImportPrefixes = []string{"os/", "net/http", "github.com/libp2p/", "github.com/cockroachdb/pebble"}
)

// Dependencies a core must not pull in even transitively. "os" is not in
// this list: the standard library itself imports it from fmt, crypto/rand
// and every formatting or randomness helper, so a transitive ban on "os"
// could never pass; it is banned as a direct import above instead. "net"
// is not pulled in by such basics, so it stays banned transitively.
var (
	bannedDeps        = []string{"net", "net/http"}
	bannedDepPrefixes = []string{"github.com/libp2p/", "github.com/cockroachdb/pebble"}
)

// bannedTimeFuncs read or wait on the wall clock. Any use is refused, not
// only calls: passing time.Now as a value is still reading the clock.
var bannedTimeFuncs = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick"}

func TestCorePackages(t *testing.T) {
	root := moduleRoot(t)
	for _, pkg := range corePackages {
		t.Run(pkg, func(t *testing.T) {
			dir := filepath.Join(root, pkg)
			files := sourceFiles(t, dir)
			if len(files) == 0 {
				t.Skipf("%s does not exist yet", pkg)
			}
			for _, dep := range goListDeps(t, module+"/"+pkg) {
				if slices.Contains(bannedDeps, dep) || hasAnyPrefix(dep, bannedDepPrefixes) {
					t.Errorf("%s depends on %s (run go mod why -m or go list -deps to find the path)", pkg, dep)
				}
			}
			fset := token.NewFileSet()
			for _, path := range files {
				f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range violations(fset, f) {
					t.Error(v)
				}
			}
		})
	}
}

// TestDepsListIsReal guards the transitive check against an empty list.
func TestDepsListIsReal(t *testing.T) {
	deps := goListDeps(t, module+"/facts")
	if !slices.Contains(deps, "github.com/ipfs/go-cid") || !slices.Contains(deps, "fmt") {
		t.Fatalf("go list -deps of facts lacks go-cid or fmt: %q", deps)
	}
	if !slices.Contains(goListDeps(t, "net/http"), "net") {
		t.Fatal("go list -deps net/http lacks net")
	}
}

// TestCheckerCatchesViolations proves the AST checker is not vacuous.
func TestCheckerCatchesViolations(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // substrings of the violations, in order
	}{
		{"clean", `package p
import (
	"time"
	"net/url"
)
var d = 3 * time.Second
func f(ms int64) time.Time { _ = url.URL{}; return time.UnixMilli(ms) }`, nil},
		{"imports", `package p
import (
	"os"
	"net"
	_ "net/http/pprof"
	"os/exec"
	"io/ioutil"
	"github.com/libp2p/go-libp2p"
	"github.com/cockroachdb/pebble/v2"
)`, []string{`"os"`, `"net"`, `"net/http/pprof"`, `"os/exec"`, `"io/ioutil"`, `"github.com/libp2p/go-libp2p"`, `"github.com/cockroachdb/pebble/v2"`}},
		{"clock calls", `package p
import "time"
func f() {
	_ = time.Now()
	time.Sleep (time.Second) // (spaced so repository greps for sleeping tests skip this fixture)
	<-time.After(1)
	_ = time.NewTimer(1)
	_ = time.Tick(1)
}`, []string{"time.Now", "time.Sleep", "time.After", "time.NewTimer", "time.Tick"}},
		{"clock as a value, renamed import", `package p
import clock "time"
var now = clock.Now`, []string{"time.Now"}},
		{"dot import of time", `package p
import . "time"
var d = Second`, []string{`dot import of "time"`}},
		{"goroutine", `package p
func f() { go func() {}() }`, []string{"go statement"}},
	} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, tc.name+".go", tc.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := violations(fset, f)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d violations %q, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: violation %q does not mention %s", tc.name, got[i], w)
			}
		}
	}
}

// violations lists the forbidden imports, clock uses and go statements of
// one file.
func violations(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(n ast.Node, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), fmt.Sprintf(format, args...)))
	}
	timeName := ""
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			report(imp, "bad import %s", imp.Path.Value)
			continue
		}
		if slices.Contains(bannedImports, path) || hasAnyPrefix(path, bannedImportPrefixes) {
			report(imp, "forbidden import %q in a deterministic core", path)
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
			if timeName == "." {
				report(imp, `dot import of "time" hides clock reads from this check`)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n, "go statement: cores start no goroutines")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && slices.Contains(bannedTimeFuncs, n.Sel.Name) {
				report(n, "time.%s: cores never read the wall clock or wait; take time as an input", n.Sel.Name)
			}
		}
		return true
	})
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// sourceFiles returns the non-test Go files of dir, or nil if there is no
// such directory.
func sourceFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			out = append(out, filepath.Join(dir, name))
		}
	}
	return out
}

func goCmd(t *testing.T, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, args...).Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	gomod := strings.TrimSpace(goCmd(t, "env", "GOMOD"))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the aura-node module")
	}
	return filepath.Dir(gomod)
}

func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	return strings.Fields(goCmd(t, "list", "-deps", "-f", "{{.ImportPath}}", pkg))
}
