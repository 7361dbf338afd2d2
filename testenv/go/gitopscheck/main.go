// Command gitopscheck evaluates Kubernetes objects the way GitOps tools judge their health, so
// the integration tests can check meshes-operator's live objects with the real libraries:
//
//	gitopscheck argo-health SCRIPT.lua   Argo CD resource health: the Lua script run in
//	                                     gopher-lua (the interpreter Argo CD embeds) as Argo CD
//	                                     runs it for a resource.customizations.health entry
//	gitopscheck kstatus                  kstatus (sigs.k8s.io/cli-utils), what Flux health
//	                                     checks and kpt use
//
// Input on stdin: a JSON Kubernetes List (`kubectl get -o json`) or a JSON array of objects.
// Output: one JSON line per object, {"kind","name","status","message"}, in input order.
// Built by testenv/scripts/build.sh like the control-plane binaries.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: gitopscheck argo-health SCRIPT.lua | gitopscheck kstatus  (objects on stdin)"))
	}
	var judge func(*unstructured.Unstructured) (string, string, error)
	switch {
	case os.Args[1] == "argo-health" && len(os.Args) == 3:
		script, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err)
		}
		judge = func(u *unstructured.Unstructured) (string, string, error) {
			return argoHealth(u, string(script))
		}
	case os.Args[1] == "kstatus" && len(os.Args) == 2:
		judge = func(u *unstructured.Unstructured) (string, string, error) {
			res, err := status.Compute(u)
			if err != nil {
				return "", "", err
			}
			return res.Status.String(), res.Message, nil
		}
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1:]))
	}
	objects, err := readObjects(os.Stdin)
	if err != nil {
		fail(err)
	}
	out := json.NewEncoder(os.Stdout)
	for _, u := range objects {
		st, msg, err := judge(u)
		if err != nil {
			fail(fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err))
		}
		if err := out.Encode(verdict{u.GetKind(), u.GetName(), st, msg}); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gitopscheck:", err)
	os.Exit(1)
}

// readObjects decodes a List or an array with the apimachinery JSON decoder, so integers are
// int64 exactly as in the objects Argo CD and kstatus receive from client-go.
func readObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var doc interface{}
	if err := kjson.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("stdin is not JSON: %w", err)
	}
	items, ok := doc.([]interface{})
	if list, isMap := doc.(map[string]interface{}); isMap {
		items, ok = list["items"].([]interface{})
	}
	if !ok {
		return nil, fmt.Errorf("stdin holds neither a List nor an array of objects")
	}
	objects := make([]*unstructured.Unstructured, 0, len(items))
	for i, item := range items {
		m, isMap := item.(map[string]interface{})
		if !isMap {
			return nil, fmt.Errorf("item %d is not an object", i)
		}
		objects = append(objects, &unstructured.Unstructured{Object: m})
	}
	return objects, nil
}

// argoHealth runs a health script as Argo CD's util/lua does for a custom health check: a fresh
// state per object with only the package, base, table and (reduced) os libraries, a one-second
// deadline, the object as the global `obj`, and the returned table's status and message.
func argoHealth(u *unstructured.Unstructured, script string) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, u.Object))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	result, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	st := lua.LVAsString(result.RawGetString("status"))
	switch st {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return st, lua.LVAsString(result.RawGetString("message")), nil
	}
	// Argo CD shows an invalid status this way.
	return "Unknown", "Lua returned an invalid health status", nil
}

// openSafeOs stands in for Argo CD's reduced os library (os.time and os.date only), so a
// script that calls them runs here as there; the meshes script uses neither.
func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(l *lua.LState) int { l.Push(lua.LNumber(time.Now().Unix())); return 1 },
		"date": func(l *lua.LState) int { l.Push(lua.LString(time.Now().UTC().Format(time.RFC3339))); return 1 },
	})
	l.Push(mod)
	return 1
}

// toLua converts decoded JSON: objects to hash tables, arrays to 1-based array tables, JSON
// null (and anything unexpected) to nil.
func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []interface{}:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]interface{}:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}
