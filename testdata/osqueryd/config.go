package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// osqConfig is the part of osquery's JSON config the stand-in acts on.
// Unknown keys (file_paths, events, ...) are accepted and ignored, as the
// real daemon ignores keys no plugin claims.
type osqConfig struct {
	Options    map[string]any             `json:"options"`
	Schedule   map[string]scheduledQuery  `json:"schedule"`
	Packs      map[string]json.RawMessage `json:"packs"`
	Decorators struct {
		Load   []string `json:"load"`
		Always []string `json:"always"`
	} `json:"decorators"`
}

type scheduledQuery struct {
	Query    string          `json:"query"`
	Interval json.RawMessage `json:"interval"`
	Snapshot bool            `json:"snapshot"`
	Removed  *bool           `json:"removed"`
	Platform string          `json:"platform"`
	Version  string          `json:"version"`
}

type pack struct {
	Queries   map[string]scheduledQuery `json:"queries"`
	Discovery []string                  `json:"discovery"`
	Platform  string                    `json:"platform"`
	Version   string                    `json:"version"`
}

// job is one scheduled query after packs are flattened.
type job struct {
	name     string
	query    string
	interval int64 // seconds
	snapshot bool
	removed  bool
}

// flexInt reads an interval given as a number or a numeric string, both of
// which osquery accepts.
func flexInt(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return strconv.ParseInt(string(n), 10, 64)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}

func configHash(raw []byte) string {
	sum := sha1.Sum(raw)
	return hex.EncodeToString(sum[:])
}

// parseConfig decodes a config and resolves pack file paths.
func parseConfig(raw []byte) (*osqConfig, error) {
	var cfg osqConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("error parsing the config JSON: %w", err)
	}
	return &cfg, nil
}

// platformMatches applies osquery's "platform" filter (comma-separated:
// posix, linux, darwin, windows, any, all).
func platformMatches(p string) bool {
	if p == "" {
		return true
	}
	for _, v := range strings.Split(p, ",") {
		switch strings.TrimSpace(v) {
		case "any", "all", "":
			return true
		case "posix":
			if runtime.GOOS != "windows" {
				return true
			}
		case "linux", "ubuntu", "centos":
			if runtime.GOOS == "linux" {
				return true
			}
		case "darwin":
			if runtime.GOOS == "darwin" {
				return true
			}
		case "windows":
			if runtime.GOOS == "windows" {
				return true
			}
		}
	}
	return false
}

// loadPack reads a pack value: an inline object or a path to a JSON file.
func loadPack(raw json.RawMessage) (*pack, error) {
	raw = bytes.TrimSpace(raw)
	var p pack
	if len(raw) > 0 && raw[0] == '"' {
		var path string
		if err := json.Unmarshal(raw, &path); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read pack file: %w", err)
		}
		raw = b
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("error parsing the pack JSON: %w", err)
	}
	return &p, nil
}

// jobs flattens the schedule and the active packs. Pack discovery queries
// must all return rows for the pack to run, as in osquery.
func (cfg *osqConfig) jobs(d *daemon) ([]job, []error) {
	var out []job
	var errs []error
	add := func(name string, q scheduledQuery) {
		if !platformMatches(q.Platform) {
			return
		}
		iv, err := flexInt(q.Interval)
		if err != nil || iv < 0 {
			errs = append(errs, fmt.Errorf("query %s: invalid interval %s", name, q.Interval))
			return
		}
		if iv == 0 {
			iv = d.fs.Int("schedule_default_interval")
		}
		removed := true
		if q.Removed != nil {
			removed = *q.Removed
		}
		out = append(out, job{name: name, query: q.Query, interval: iv, snapshot: q.Snapshot, removed: removed})
	}
	for name, q := range cfg.Schedule {
		add(name, q)
	}
	delim := d.fs.String("pack_delimiter")
	packNames := make([]string, 0, len(cfg.Packs))
	for n := range cfg.Packs {
		packNames = append(packNames, n)
	}
	sort.Strings(packNames)
	for _, pn := range packNames {
		p, err := loadPack(cfg.Packs[pn])
		if err != nil {
			errs = append(errs, fmt.Errorf("pack %s: %w", pn, err))
			continue
		}
		if !platformMatches(p.Platform) {
			continue
		}
		active := true
		for _, dq := range p.Discovery {
			res, err := runQuery(d.env, dq)
			if err != nil || len(res.rows) == 0 {
				active = false
				break
			}
		}
		if !active {
			continue
		}
		for qn, q := range p.Queries {
			add("pack"+delim+pn+delim+qn, q)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, errs
}

// applyOptions sets flags from the config's "options", like osquery does for
// flags that are not command-line only.
func (d *daemon) applyOptions(opts map[string]any) {
	names := make([]string, 0, len(opts))
	for n := range opts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var v string
		switch x := opts[n].(type) {
		case string:
			v = x
		case bool:
			v = strconv.FormatBool(x)
		case json.Number:
			v = x.String()
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case nil:
			continue
		default:
			d.log.Warn("cannot set flag from config option: unsupported value type", "flag", n)
			continue
		}
		if err := d.fs.assign(n, v); err != nil {
			var fe *flagError
			if errors.As(err, &fe) {
				d.log.Warn("cannot set unknown or invalid flag from config options", "flag", n)
			}
		}
	}
}
