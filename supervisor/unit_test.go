package supervisor

import (
	"strings"
	"testing"
	"time"
)

func TestSystemdUnitContent(t *testing.T) {
	t.Parallel()
	got, err := SystemdUnit(ServiceConfig{
		Name: "orbit", Description: "Orbit osquery", Executable: "/opt/orbit/bin/orbit/orbit",
		Args: []string{"--root-dir=/opt/my orbit", `--x="q"`}, StopGrace: 7 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Description=Orbit osquery\n",
		"EnvironmentFile=-/etc/default/orbit\n",
		`ExecStart=/opt/orbit/bin/orbit/orbit "--root-dir=/opt/my orbit" "--x=\"q\""` + "\n",
		"TimeoutStopSec=27\n",
		"Restart=always\n", "KillMode=mixed\n", "WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("unit lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "WorkingDirectory") || strings.Contains(got, "{{") {
		t.Errorf("unit has an unrendered or empty directive:\n%s", got)
	}
}

func TestSystemdUnitRefusesWhatSystemdWouldReadDifferently(t *testing.T) {
	t.Parallel()
	base := ServiceConfig{Name: "orbit", Description: "d", Executable: "/opt/orbit/bin/orbit/orbit"}
	for _, tt := range []struct {
		name   string
		modify func(*ServiceConfig)
		want   string
	}{
		{"newline in an argument", func(c *ServiceConfig) { c.Args = []string{"--a\nExecStartPre=/bin/sh"} }, "control character"},
		{"newline in the description", func(c *ServiceConfig) { c.Description = "x\n[Service]" }, "control character"},
		{"specifier", func(c *ServiceConfig) { c.Args = []string{"--fleet-url=https://h/%h"} }, "expand"},
		{"variable", func(c *ServiceConfig) { c.Args = []string{"--x=$HOME"} }, "expand"},
		{"backslash", func(c *ServiceConfig) { c.Args = []string{`--x=a\`} }, "expand"},
		{"relative executable", func(c *ServiceConfig) { c.Executable = "bin/orbit" }, "absolute"},
		{"unclean executable", func(c *ServiceConfig) { c.Executable = "/opt/../orbit" }, "clean"},
		{"no name", func(c *ServiceConfig) { c.Name = "" }, "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base
			tt.modify(&c)
			_, err := SystemdUnit(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SystemdUnit error = %v, want one about %q", err, tt.want)
			}
		})
	}
}
