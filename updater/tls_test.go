//go:build !windows

package updater

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/httpclient"
)

func TestUpdateOverTLSWithCABundle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	e.repo.addTarget(osqTarget, script("1.0.0", 0, e.marks, 0), "1.0.0")
	e.repo.publish()
	srv := httptest.NewTLSServer(http.FileServer(http.Dir(e.repo.dir)))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(notPEM, []byte("junk"), 0o644)

	cases := []struct {
		name    string
		opts    httpclient.Config
		ok      bool
		errHas  string
		newFail bool
	}{
		{"trusted CA bundle", httpclient.Config{CAFile: ca}, true, "", false},
		{"system roots only", httpclient.Config{}, false, "certificate", false},
		{"missing bundle", httpclient.Config{CAFile: ca + ".nope"}, false, ca + ".nope", true},
		{"not PEM", httpclient.Config{CAFile: notPEM}, false, "no PEM certificate", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, err := httpclient.New(c.opts)
			if c.newFail {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("httpclient.New err = %v, want %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg := e.config(osqComp)
			cfg.Layout.Root = t.TempDir()
			cfg.UpdateURL = srv.URL
			cfg.HTTPClient = client
			u, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := u.Check(context.Background())
			if c.ok {
				if err != nil || !slices.Equal(res.Installed, []string{"osqueryd"}) {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("check err = %v, want %q", err, c.errHas)
			}
		})
	}
	if http.DefaultClient.Transport != nil {
		t.Fatal("the global HTTP client was modified")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t, false)
	base := Config{Layout: rootdirAt(t), UpdateURL: "http://127.0.0.1:1", RootJSON: r.bundled, Components: []Component{osqComp}}
	cases := []struct {
		name   string
		mutate func(*Config)
		errHas string
	}{
		{"no root dir", func(c *Config) { c.Layout.Root = "" }, "root directory"},
		{"no URL", func(c *Config) { c.UpdateURL = "" }, "updates need a repository: pass --update-url"},
		{"bad scheme", func(c *Config) { c.UpdateURL = "ftp://x" }, "http"},
		{"bad root", func(c *Config) { c.RootJSON = []byte("{}") }, "root.json"},
		{"archive without exec", func(c *Config) {
			c.Components = []Component{{Name: "desktop", Channel: "stable", FileName: "desktop.tar.gz"}}
		}, "executable"},
		{"slash in channel", func(c *Config) {
			c.Components = []Component{{Name: "osqueryd", Channel: "../x", FileName: "osqueryd"}}
		}, "not a channel name"},
		{"twice", func(c *Config) { c.Components = []Component{osqComp, osqComp} }, "twice"},
		{"dot dot channel", func(c *Config) {
			c.Components = []Component{{Name: "osqueryd", Channel: "..", FileName: "osqueryd"}}
		}, "not a channel name"},
		{"slash in file name", func(c *Config) {
			c.Components = []Component{{Name: "osqueryd", Channel: "stable", FileName: "../osqueryd"}}
		}, "one path element"},
		{"unknown component", func(c *Config) {
			c.Components = []Component{{Name: "../bin", Channel: "stable", FileName: "osqueryd"}}
		}, "not a component"},
		{"exec in a plain file", func(c *Config) {
			c.Components = []Component{{Name: "osqueryd", Channel: "stable", FileName: "osqueryd", ExecInArchive: "x/osqueryd"}}
		}, "not a .tar.gz"},
		{"two selves", func(c *Config) {
			c.Components = []Component{orbitFor("linux", "stable"), {Name: "desktop", Channel: "stable", FileName: "d", SelfUpdate: true}}
		}, "only one component"},
		{"short interval", func(c *Config) { c.Interval = 5 * time.Second }, "--update-interval 5s is too short"},
		{"no roots", func(c *Config) { c.RootJSON = nil }, "pass --update-roots"},
		{"credentials in URL", func(c *Config) { c.UpdateURL = "https://u:pw@updates.example.com" }, "--update-url must not carry credentials"},
	}
	for _, c := range cases {
		cfg := base
		c.mutate(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Fatalf("%s: err = %v, want %q", c.name, err, c.errHas)
		}
	}
	if _, err := New(base); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}
