// Command democtl is the small helper scripts/demo.sh uses, so `make demo`
// needs neither curl, jq nor a desktop on a fresh machine: HTTP and JSON,
// a stand-in desktop login, and a reader of the tray icon's menu.
//
//	democtl http [--ca FILE] METHOD URL [BODY]   print the response body; exit 1 unless 2xx
//	democtl get PATH [FILE]                      print the JSON value at PATH (stdin if no FILE)
//	democtl len [PATH] [FILE]                    print the length of the array/object at PATH
//	democtl session --bus-socket P --wayland P   a stand-in desktop login: session bus, compositor
//	                                             socket, StatusNotifierWatcher (run as the user)
//	democtl menu --bus ADDR [--want LABEL]       print the tray icon's menu, read over the bus
//
// PATH is dot-separated: object keys and array indexes, e.g.
// "components.osqueryd.pid" or "0.rows.0.uuid"; "." is the whole document.
// A missing path exits 1, so the script can use it as a check.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "democtl:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: democtl http|get|len|session|menu ...")
	}
	switch args[0] {
	case "http":
		return doHTTP(args[1:], stdout)
	case "menu":
		return menu(args[1:], stdout)
	case "session":
		return session(args[1:], stdout)
	case "get", "len":
		path, file := ".", ""
		if len(args) > 1 {
			path = args[1]
		}
		if len(args) > 2 {
			file = args[2]
		}
		v, err := lookup(stdin, file, path)
		if err != nil {
			return err
		}
		if args[0] == "len" {
			switch x := v.(type) {
			case []any:
				fmt.Fprintln(stdout, len(x))
			case map[string]any:
				fmt.Fprintln(stdout, len(x))
			case nil:
				fmt.Fprintln(stdout, 0)
			default:
				return fmt.Errorf("%s is not an array or object", path)
			}
			return nil
		}
		return printValue(stdout, v)
	}
	return fmt.Errorf("unknown command %q: use http, get, len, session or menu", args[0])
}

func doHTTP(args []string, stdout io.Writer) error {
	ca := ""
	if len(args) >= 2 && args[0] == "--ca" {
		ca, args = args[1], args[2:]
	}
	if len(args) < 2 || len(args) > 3 {
		return errors.New("usage: democtl http [--ca FILE] METHOD URL [BODY]")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var body io.Reader
	if len(args) == 3 {
		body = strings.NewReader(args[2])
	}
	req, err := http.NewRequest(args[0], args[1], body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", args[0], args[1], resp.Status, bytes.TrimSpace(out))
	}
	_, err = stdout.Write(out)
	return err
}

func lookup(stdin io.Reader, file, path string) (any, error) {
	var data []byte
	var err error
	if file == "" || file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("input is not JSON: %w", err)
	}
	if path == "." || path == "" {
		return v, nil
	}
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[part]
			if !ok {
				return nil, fmt.Errorf("no %q in %s", part, path)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no index %q in %s", part, path)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("cannot descend into %q of %s", part, path)
		}
	}
	return v, nil
}

// printValue prints strings and numbers bare (for shell variables) and
// anything else as indented JSON.
func printValue(w io.Writer, v any) error {
	switch x := v.(type) {
	case string:
		_, err := fmt.Fprintln(w, x)
		return err
	case float64:
		_, err := fmt.Fprintln(w, strconv.FormatFloat(x, 'f', -1, 64))
		return err
	case bool:
		_, err := fmt.Fprintln(w, x)
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
