package supervisor

import (
	"fmt"
	"path"
	"strings"
	"text/template"
	"unicode"
)

// DefaultIdentifier is orbit's reverse-DNS name where a platform wants one:
// the launchd label (and so the plist's name) of `orbit service install`
// on macOS and of the packages orbitctl package builds, the pkg
// identifier, and the seed of the msi's codes.
const DefaultIdentifier = "com.orbitagent.orbit"

// LaunchdLogDir is where launchd writes orbit's stdout and stderr:
// <dir>/<label>.out.log and .err.log. Packages create it; so does
// `orbit service install`.
const LaunchdLogDir = "/var/log/orbit"

// launchdPlist is the launchd job orbit installs, in kardianos/service's
// template language (passed to it as the LaunchdConfig option). KeepAlive
// restarts orbit whenever it exits, as systemd's Restart=always does
// (launchd throttles restarts to one per 10 s); RunAtLoad starts it at
// boot and when the job is bootstrapped. No EnvironmentVariables: the
// plist is world-readable, so settings are flags and the enroll secret is
// a root-only file named by --enroll-secret-path.
const launchdPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>KeepAlive</key>
	<{{KeepAlive}}/>
	<key>Label</key>
	<string>{{Name | html}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{Path | html}}</string>
{{range Arguments}}		<string>{{. | html}}</string>
{{end}}	</array>
	<key>RunAtLoad</key>
	<{{RunAtLoad}}/>
	<key>StandardErrorPath</key>
	<string>{{StandardErrorPath | html}}</string>
	<key>StandardOutPath</key>
	<string>{{StandardOutPath | html}}</string>
</dict>
</plist>
`

// plistEscape is kardianos/service's escaping of plist values (html).
var plistEscape = strings.NewReplacer(`&`, "&amp;", `'`, "&#39;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;")

// launchdLogPaths are the paths kardianos gives a job named name with
// LaunchdLogDir as its LogDirectory.
func launchdLogPaths(name string) (stdout, stderr string) {
	return LaunchdLogDir + "/" + name + ".out.log", LaunchdLogDir + "/" + name + ".err.log"
}

// LaunchdPlist renders the launchd plist that `orbit service install`
// writes on macOS for cfg (cfg.Name is the label), without installing
// anything: the same template with the same values and escaping
// kardianos/service uses, so the plist a package ships and the one service
// install writes never drift.
//
// Control characters are refused (XML 1.0 cannot hold most of them, and a
// label or argument with a newline is never meant).
func LaunchdPlist(cfg ServiceConfig) (string, error) {
	if cfg.Name == "" {
		return "", fmt.Errorf("launchd plist: the service needs a label")
	}
	if strings.ContainsAny(cfg.Name, "/ ") {
		return "", fmt.Errorf("launchd plist: label %q names a file in /Library/LaunchDaemons: no '/' or spaces", cfg.Name)
	}
	if !path.IsAbs(cfg.Executable) || path.Clean(cfg.Executable) != cfg.Executable {
		return "", fmt.Errorf("launchd plist: executable %q must be a clean absolute path", cfg.Executable)
	}
	for _, v := range append([]string{cfg.Name, cfg.Executable}, cfg.Args...) {
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return "", fmt.Errorf("launchd plist: %q holds a control character", v)
		}
	}
	opts := serviceOptions(cfg)
	script, ok := opts["LaunchdConfig"].(string)
	if !ok {
		return "", fmt.Errorf("launchd plist: no launchd template in the service options")
	}
	stdout, stderr := launchdLogPaths(cfg.Name)
	args := cfg.Args
	if args == nil {
		args = []string{}
	}
	plistBool := func(key string) func() string {
		return func() string {
			if b, _ := opts[key].(bool); b {
				return "true"
			}
			return "false"
		}
	}
	funcs := template.FuncMap{
		"Name":              func() string { return cfg.Name },
		"Path":              func() string { return cfg.Executable },
		"Arguments":         func() []string { return args },
		"KeepAlive":         plistBool("KeepAlive"),
		"RunAtLoad":         plistBool("RunAtLoad"),
		"StandardOutPath":   func() string { return stdout },
		"StandardErrorPath": func() string { return stderr },
		"html":              plistEscape.Replace,
	}
	return renderServiceTemplate("launchd plist", script, funcs)
}
