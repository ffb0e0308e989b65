package pkg

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/bom/bomtest"
	"github.com/orbitagent/orbit/packaging/internal/formattest"
)

var stamp = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// fakeBinary is deterministic data shaped a little like a Mach-O file, so
// it compresses as real binaries do rather than not at all.
func fakeBinary(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	copy(b, "\xcf\xfa\xed\xfe\x0c\x00\x00\x01")
	for i := 8; i < n; i++ {
		if i%7 == 0 {
			b[i] = byte(rng.IntN(256))
		} else {
			b[i] = byte(i / 64)
		}
	}
	return b
}

const plist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>com.example.orbit</string>
	<key>ProgramArguments</key>
	<array>
		<string>/opt/orbit/bin/orbit/orbit</string>
		<string>--env-file</string>
		<string>/opt/orbit/orbit.env</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
</dict>
</plist>
`

// postinstall is the AfterInstall hook: a body the pkg's postinstall
// script wraps.
const postinstall = `label=com.example.orbit
plist=/Library/LaunchDaemons/$label.plist
launchctl bootout system/$label 2>/dev/null || true
launchctl enable system/$label
launchctl bootstrap system "$plist"
launchctl kickstart system/$label
`

// fixture looks like the agent's real macOS package: the launchd plist,
// binaries at 0755 in the host layout, a root-only settings file, the
// trusted root in a 0700 dir, and the stable symlink to orbit.
func fixture(binSize int) *packaging.Package {
	return &packaging.Package{
		Name: "orbit", Identifier: "com.example.orbit", Version: "1.2.3", Arch: "arm64",
		Description: "orbit agent", ModTime: stamp,
		Files: []packaging.File{
			{Path: "/Library/LaunchDaemons/com.example.orbit.plist", Mode: 0o644, Data: []byte(plist), Owner: "root", Group: "wheel"},
			{Path: "/opt/orbit", Mode: fs.ModeDir | 0o755},
			{Path: "/opt/orbit/bin/orbit/macos/stable/orbit", Mode: 0o755, Data: fakeBinary(1, binSize)},
			{Path: "/opt/orbit/bin/orbit/orbit", Mode: fs.ModeSymlink | 0o755, LinkTarget: "/opt/orbit/bin/orbit/macos/stable/orbit"},
			{Path: "/opt/orbit/bin/osqueryd/macos/stable/osqueryd", Mode: 0o755, Data: fakeBinary(2, binSize)},
			{Path: "/opt/orbit/orbit.env", Mode: 0o600, Data: []byte("ORBIT_FLEET_URL=https://fleet.example.com\nORBIT_ENROLL_SECRET_PATH=/opt/orbit/secret.txt\n"), Config: true},
			{Path: "/opt/orbit/secret.txt", Mode: 0o600, Data: []byte("s3cret\n")},
			{Path: "/opt/orbit/tuf", Mode: fs.ModeDir | 0o700},
			{Path: "/opt/orbit/tuf/root.json", Mode: 0o600, Data: []byte(`{"signed":{"_type":"root"}}`)},
		},
		Scripts: packaging.Scripts{AfterInstall: postinstall},
	}
}

func build(t testing.TB, p *packaging.Package) []byte {
	t.Helper()
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Build(context.Background(), p, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpacked is a built package, written to disk and extracted by bsdtar.
type unpacked struct {
	dir, pkg, x string
}

func unpack(t *testing.T, p *packaging.Package) unpacked {
	t.Helper()
	dir := t.TempDir()
	u := unpacked{dir: dir, pkg: filepath.Join(dir, "orbit.pkg"), x: filepath.Join(dir, "x")}
	if err := os.WriteFile(u.pkg, build(t, p), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(u.x, 0o755); err != nil {
		t.Fatal(err)
	}
	testbin.RunTool(t, u.x, "bsdtar", "-xf", u.pkg)
	return u
}

func (u unpacked) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(u.x, name))
	if err != nil {
		t.Fatalf("bsdtar did not extract %s: %v", name, err)
	}
	return b
}

// gunzipTo writes the gunzipped archive next to the extraction and
// returns its path, for cpio -F.
func (u unpacked) gunzipTo(t *testing.T, name string) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(u.read(t, name)))
	if err != nil {
		t.Fatalf("%s is not gzip: %v", name, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(u.dir, strings.ReplaceAll(name, "/", "_")+".cpio")
	if err := os.WriteFile(out, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// 7-Zip and bsdtar accept the product archive and find its parts.
func TestArchiveToolsAccept(t *testing.T) {
	t.Parallel()
	u := unpack(t, fixture(4096))
	out := string(testbin.RunTool(t, u.dir, "7zz", "t", u.pkg))
	if !strings.Contains(out, "Everything is Ok") {
		t.Fatalf("7zz t:\n%s", out)
	}
	list := strings.Fields(string(testbin.RunTool(t, u.dir, "bsdtar", "-tf", u.pkg)))
	sort.Strings(list)
	want := []string{"Distribution", "orbit.pkg", "orbit.pkg/Bom", "orbit.pkg/PackageInfo", "orbit.pkg/Payload", "orbit.pkg/Scripts"}
	if strings.Join(list, " ") != strings.Join(want, " ") {
		t.Fatalf("bsdtar -tf: %v, want %v", list, want)
	}
	for _, name := range want {
		if fi, err := os.Stat(filepath.Join(u.x, name)); err != nil || (name != "orbit.pkg" && fi.Size() == 0) {
			t.Errorf("bsdtar -xf: %s missing or empty: %v", name, err)
		}
	}
}

type cpioLine struct {
	mode, uid, gid, name, target string
	size                         int64
}

// cpioList runs GNU cpio -itv with numeric owners and parses its lines.
func cpioList(t *testing.T, dir, archive string) []cpioLine {
	t.Helper()
	out := string(testbin.RunTool(t, dir, "cpio", "-itv", "-n", "--quiet", "-F", archive))
	var lines []cpioLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 {
			t.Fatalf("cpio line %q", l)
		}
		size, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			t.Fatalf("cpio line %q: size: %v", l, err)
		}
		c := cpioLine{mode: f[0], uid: f[2], gid: f[3], size: size, name: f[8]}
		if len(f) >= 11 && f[9] == "->" {
			c.target = f[10]
		}
		lines = append(lines, c)
	}
	return lines
}

// GNU cpio lists the Payload with owner 0, group 80 (admin) unless a File
// says otherwise, the modes asked for, implicit parents as root:wheel
// 0755, and the symlink's target; and it extracts the same bytes.
func TestPayloadWithCpio(t *testing.T) {
	t.Parallel()
	p := fixture(4096)
	u := unpack(t, p)
	payload := u.gunzipTo(t, "orbit.pkg/Payload")
	type want struct{ mode, uid, gid, target string }
	wants := map[string]want{
		".":                       {"drwxr-xr-x", "0", "0", ""},
		"./Library":               {"drwxr-xr-x", "0", "0", ""},
		"./Library/LaunchDaemons": {"drwxr-xr-x", "0", "0", ""},
		"./Library/LaunchDaemons/com.example.orbit.plist": {"-rw-r--r--", "0", "0", ""},
		"./opt":                                          {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit":                                    {"drwxr-xr-x", "0", "80", ""},
		"./opt/orbit/bin":                                {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/orbit":                          {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/orbit/macos":                    {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/orbit/macos/stable":             {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/orbit/macos/stable/orbit":       {"-rwxr-xr-x", "0", "80", ""},
		"./opt/orbit/bin/orbit/orbit":                    {"lrwxr-xr-x", "0", "80", "/opt/orbit/bin/orbit/macos/stable/orbit"},
		"./opt/orbit/bin/osqueryd":                       {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/osqueryd/macos":                 {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/osqueryd/macos/stable":          {"drwxr-xr-x", "0", "0", ""},
		"./opt/orbit/bin/osqueryd/macos/stable/osqueryd": {"-rwxr-xr-x", "0", "80", ""},
		"./opt/orbit/orbit.env":                          {"-rw-------", "0", "80", ""},
		"./opt/orbit/secret.txt":                         {"-rw-------", "0", "80", ""},
		"./opt/orbit/tuf":                                {"drwx------", "0", "80", ""},
		"./opt/orbit/tuf/root.json":                      {"-rw-------", "0", "80", ""},
	}
	lines := cpioList(t, u.dir, payload)
	if len(lines) != len(wants) {
		t.Errorf("cpio lists %d entries, want %d", len(lines), len(wants))
	}
	for i, l := range lines {
		w, ok := wants[l.name]
		if !ok {
			t.Errorf("unexpected payload entry %s", l.name)
			continue
		}
		if l.mode != w.mode || l.uid != w.uid || l.gid != w.gid || l.target != w.target {
			t.Errorf("%s: %s %s:%s -> %q, want %s %s:%s -> %q", l.name, l.mode, l.uid, l.gid, l.target, w.mode, w.uid, w.gid, w.target)
		}
		if i > 0 && !strings.HasPrefix(l.name, "./") {
			t.Errorf("%s is not ./-relative", l.name)
		}
	}

	x := filepath.Join(u.dir, "root")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	testbin.RunTool(t, x, "cpio", "-idm", "--quiet", "--no-absolute-filenames", "-F", payload)
	for _, f := range p.Files {
		got := filepath.Join(x, f.Path)
		fi, err := os.Lstat(got)
		if err != nil {
			t.Errorf("%s not extracted: %v", f.Path, err)
			continue
		}
		if fi.Mode().Type() != f.Mode.Type() {
			t.Errorf("%s: type %v, want %v", f.Path, fi.Mode().Type(), f.Mode.Type())
		}
		switch f.Mode.Type() {
		case 0:
			b, _ := os.ReadFile(got)
			if !bytes.Equal(b, f.Data) {
				t.Errorf("%s: extracted content differs", f.Path)
			}
		case fs.ModeSymlink:
			if tgt, _ := os.Readlink(got); tgt != f.LinkTarget {
				t.Errorf("%s: target %q", f.Path, tgt)
			}
		}
		if f.Mode.Type() != fs.ModeSymlink && fi.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s: mode %v, want %v", f.Path, fi.Mode().Perm(), f.Mode.Perm())
		}
	}
}

// The Scripts archive holds a preinstall and a postinstall, executable,
// that run the BeforeInstall and AfterInstall hooks with "install"; the
// removal hooks, which macOS has no place for, are left out.
func TestScriptsWithCpio(t *testing.T) {
	t.Parallel()
	p := fixture(16)
	p.Scripts = packaging.Scripts{
		BeforeInstall: `printf 'before %s\n' "$1" >>"$HOOK_LOG"`,
		AfterInstall:  `printf 'after %s on %s\n' "$1" "$4" >>"$HOOK_LOG"`,
		BeforeRemove:  `printf 'removal hook ran\n' >>"$HOOK_LOG"`,
		AfterRemove:   `printf 'removal hook ran\n' >>"$HOOK_LOG"`,
		AfterPurge:    `printf 'removal hook ran\n' >>"$HOOK_LOG"`,
	}
	u := unpack(t, p)
	archive := u.gunzipTo(t, "orbit.pkg/Scripts")
	lines := cpioList(t, u.dir, archive)
	var names []string
	for _, l := range lines {
		names = append(names, l.name)
		if l.name != "." && l.mode != "-rwxr-xr-x" {
			t.Errorf("%s: mode %s, want -rwxr-xr-x", l.name, l.mode)
		}
	}
	if strings.Join(names, " ") != ". ./postinstall ./preinstall" {
		t.Fatalf("Scripts holds %v, want ., postinstall, preinstall", names)
	}
	x := filepath.Join(u.dir, "scripts")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	testbin.RunTool(t, x, "cpio", "-id", "--quiet", "-F", archive)
	hookLog := filepath.Join(u.dir, "hooks.log")
	for _, name := range []string{"preinstall", "postinstall"} {
		body, err := os.ReadFile(filepath.Join(x, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(body), "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh:\n%s", name, body)
		}
		// The installer runs it with the package path, target and volume.
		cmd := exec.Command(filepath.Join(x, name), u.pkg, "/", "/Volumes/Image")
		cmd.Env = append(os.Environ(), "HOOK_LOG="+hookLog)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	got, err := os.ReadFile(hookLog)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "before install\nafter install on /Volumes/Image\n" {
		t.Errorf("hooks ran as %q, want before install, after install on the target volume", got)
	}
}

// A BOM reader written from the format notes walks the Paths tree and
// finds every Payload entry with its mode, owner, size and checksum, the
// checksum being what coreutils cksum computes for the extracted file.
func TestBomListsPayload(t *testing.T) {
	t.Parallel()
	p := fixture(70000)
	u := unpack(t, p)
	b, err := bomtest.Read(u.read(t, "orbit.pkg/Bom"))
	if err != nil {
		t.Fatal(err)
	}
	lines := cpioList(t, u.dir, u.gunzipTo(t, "orbit.pkg/Payload"))
	if len(b.Entries) != len(lines) {
		t.Fatalf("BOM has %d paths, Payload %d", len(b.Entries), len(lines))
	}
	byPath := b.ByPath()
	for _, l := range lines {
		e, ok := byPath[l.name]
		if !ok {
			t.Errorf("%s is in the Payload but not in the BOM", l.name)
			continue
		}
		if got := symbolic(e.Mode); got != l.mode {
			t.Errorf("%s: BOM mode %s, Payload %s", l.name, got, l.mode)
		}
		if strconv.Itoa(int(e.UID)) != l.uid || strconv.Itoa(int(e.GID)) != l.gid {
			t.Errorf("%s: BOM owner %d:%d, Payload %s:%s", l.name, e.UID, e.GID, l.uid, l.gid)
		}
		if e.MTime != uint32(stamp.Unix()) {
			t.Errorf("%s: BOM mtime %d", l.name, e.MTime)
		}
		if e.LinkTarget != l.target {
			t.Errorf("%s: BOM link %q, Payload %q", l.name, e.LinkTarget, l.target)
		}
		if e.Type != 2 && int64(e.Size) != l.size {
			t.Errorf("%s: BOM size %d, Payload %d", l.name, e.Size, l.size)
		}
	}
	for _, f := range p.Files {
		if !f.Mode.IsRegular() {
			continue
		}
		tmp := filepath.Join(u.dir, "ck")
		if err := os.WriteFile(tmp, f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
		want := strings.Fields(string(testbin.RunTool(t, u.dir, "cksum", tmp)))[0]
		if got := strconv.FormatUint(uint64(byPath["."+f.Path].Checksum), 10); got != want {
			t.Errorf("%s: BOM checksum %s, cksum %s", f.Path, got, want)
		}
	}
}

// symbolic renders a st_mode as ls and cpio -itv do.
func symbolic(m uint16) string {
	t := map[uint16]byte{0o100000: '-', 0o040000: 'd', 0o120000: 'l'}[m&0o170000]
	const rwx = "rwxrwxrwx"
	b := []byte{t}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	return string(b)
}

// Real packages carry hundreds of files: the Paths tree then spans several
// leaves, and every file is still found, in the BOM and in the Payload.
func TestManyFiles(t *testing.T) {
	t.Parallel()
	p := fixture(16)
	for i := 0; i < 700; i++ {
		p.Files = append(p.Files, packaging.File{
			Path: fmt.Sprintf("/opt/orbit/share/d%d/file-%03d.txt", i%7, i), Mode: 0o644,
			Data: []byte(strings.Repeat("x", i)),
		})
	}
	u := unpack(t, p)
	b, err := bomtest.Read(u.read(t, "orbit.pkg/Bom"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Leaves < 3 || b.Levels != 2 {
		t.Fatalf("Paths tree has %d leaves on %d levels, want several leaves under an index node", b.Leaves, b.Levels)
	}
	byPath := b.ByPath()
	for _, f := range p.Files {
		e, ok := byPath["."+f.Path]
		if !ok {
			t.Errorf("%s is not in the BOM", f.Path)
			continue
		}
		if f.Mode.IsRegular() && (int(e.Size) != len(f.Data) || e.Mode&0o777 != uint16(f.Mode.Perm())) {
			t.Errorf("%s: BOM size %d mode %o", f.Path, e.Size, e.Mode)
		}
	}
	lines := cpioList(t, u.dir, u.gunzipTo(t, "orbit.pkg/Payload"))
	if len(lines) != len(b.Entries) {
		t.Errorf("Payload has %d entries, BOM %d", len(lines), len(b.Entries))
	}
	var info struct {
		Payload struct {
			N int `xml:"numberOfFiles,attr"`
		} `xml:"payload"`
	}
	if err := xml.Unmarshal(u.read(t, "orbit.pkg/PackageInfo"), &info); err != nil {
		t.Fatal(err)
	}
	if info.Payload.N != len(lines) {
		t.Errorf("PackageInfo numberOfFiles %d, Payload %d", info.Payload.N, len(lines))
	}
}

type parsedInfo struct {
	XMLName         xml.Name `xml:"pkg-info"`
	Format          string   `xml:"format-version,attr"`
	Identifier      string   `xml:"identifier,attr"`
	Version         string   `xml:"version,attr"`
	InstallLocation string   `xml:"install-location,attr"`
	Auth            string   `xml:"auth,attr"`
	Payload         struct {
		Files  int   `xml:"numberOfFiles,attr"`
		KBytes int64 `xml:"installKBytes,attr"`
	} `xml:"payload"`
	Scripts *struct {
		Pre *struct {
			File string `xml:"file,attr"`
		} `xml:"preinstall"`
		Post *struct {
			File string `xml:"file,attr"`
		} `xml:"postinstall"`
	} `xml:"scripts"`
}

type parsedDist struct {
	XMLName xml.Name `xml:"installer-gui-script"`
	Spec    string   `xml:"minSpecVersion,attr"`
	Options struct {
		Arch      string `xml:"hostArchitectures,attr"`
		Customize string `xml:"customize,attr"`
	} `xml:"options"`
	OS struct {
		Min string `xml:"min,attr"`
	} `xml:"volume-check>allowed-os-versions>os-version"`
	Outline []struct {
		Choice string `xml:"choice,attr"`
		Lines  []struct {
			Choice string `xml:"choice,attr"`
		} `xml:"line"`
	} `xml:"choices-outline>line"`
	Choices []struct {
		ID   string `xml:"id,attr"`
		Refs []struct {
			ID string `xml:"id,attr"`
		} `xml:"pkg-ref"`
	} `xml:"choice"`
	Refs []struct {
		ID      string `xml:"id,attr"`
		Version string `xml:"version,attr"`
		KBytes  int64  `xml:"installKBytes,attr"`
		Href    string `xml:",chardata"`
	} `xml:"pkg-ref"`
}

// Distribution and PackageInfo parse as XML, name what the package holds,
// and name exactly the scripts that exist.
func TestXMLDescribesPackage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		pre, post string
		arch      string
		wantArch  string
	}{
		{"postinstall only", "", postinstall, "arm64", "arm64"},
		{"both scripts", "true\n", postinstall, "amd64", "x86_64"},
		{"no scripts", "", "", "arm64", "arm64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := fixture(2000)
			p.Arch = tt.arch
			p.Scripts = packaging.Scripts{BeforeInstall: tt.pre, AfterInstall: tt.post}
			u := unpack(t, p)

			var info parsedInfo
			if err := xml.Unmarshal(u.read(t, "orbit.pkg/PackageInfo"), &info); err != nil {
				t.Fatalf("PackageInfo: %v", err)
			}
			if info.Identifier != "com.example.orbit" || info.Version != "1.2.3" || info.InstallLocation != "/" || info.Format != "2" || info.Auth != "root" {
				t.Errorf("PackageInfo = %+v", info)
			}
			var total int64
			for _, f := range p.Files {
				total += int64(len(f.Data))
			}
			if info.Payload.KBytes != (total+1023)/1024 || info.Payload.Files != 20 {
				t.Errorf("payload numberOfFiles %d installKBytes %d, want 20 and %d", info.Payload.Files, info.Payload.KBytes, (total+1023)/1024)
			}
			_, scriptsErr := os.Stat(filepath.Join(u.x, "orbit.pkg/Scripts"))
			named := map[string]string{}
			if info.Scripts != nil {
				if info.Scripts.Pre != nil {
					named["preinstall"] = info.Scripts.Pre.File
				}
				if info.Scripts.Post != nil {
					named["postinstall"] = info.Scripts.Post.File
				}
			}
			inArchive := map[string]bool{}
			if scriptsErr == nil {
				for _, l := range cpioList(t, u.dir, u.gunzipTo(t, "orbit.pkg/Scripts")) {
					inArchive[strings.TrimPrefix(l.name, "./")] = true
				}
			}
			for name, body := range map[string]string{"preinstall": tt.pre, "postinstall": tt.post} {
				ref, isNamed := named[name]
				switch {
				case body != "" && (ref != "./"+name || !inArchive[name]):
					t.Errorf("%s: named %q, in Scripts %v; want both", name, ref, inArchive[name])
				case body == "" && (isNamed || inArchive[name]):
					t.Errorf("%s is named or archived but was not given", name)
				}
			}
			if tt.pre == "" && tt.post == "" && (info.Scripts != nil || scriptsErr == nil) {
				t.Errorf("no scripts given, but PackageInfo has <scripts> or the Scripts archive exists")
			}

			var d parsedDist
			if err := xml.Unmarshal(u.read(t, "Distribution"), &d); err != nil {
				t.Fatalf("Distribution: %v", err)
			}
			if d.Spec != "2" || d.Options.Arch != tt.wantArch || d.Options.Customize != "never" || d.OS.Min != "12.0" {
				t.Errorf("Distribution options %+v min OS %q, want arch %s min 12.0", d.Options, d.OS.Min, tt.wantArch)
			}
			if len(d.Refs) != 1 || d.Refs[0].ID != "com.example.orbit" || d.Refs[0].Version != "1.2.3" ||
				d.Refs[0].Href != "#orbit.pkg" || d.Refs[0].KBytes != info.Payload.KBytes {
				t.Errorf("Distribution pkg-ref %+v", d.Refs)
			}
			if len(d.Outline) != 1 || len(d.Outline[0].Lines) != 1 || d.Outline[0].Lines[0].Choice != "com.example.orbit" {
				t.Errorf("choices-outline %+v", d.Outline)
			}
			found := false
			for _, c := range d.Choices {
				if c.ID == "com.example.orbit" && len(c.Refs) == 1 && c.Refs[0].ID == "com.example.orbit" {
					found = true
				}
			}
			if !found {
				t.Errorf("no choice installs the pkg-ref: %+v", d.Choices)
			}
		})
	}
}

func TestMinOSVersion(t *testing.T) {
	t.Parallel()
	f, err := New(Config{MinOSVersion: "13.5"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Build(context.Background(), fixture(16), &buf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.pkg"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dist := testbin.RunTool(t, dir, "bsdtar", "-xOf", "p.pkg", "Distribution")
	var d parsedDist
	if err := xml.Unmarshal(dist, &d); err != nil {
		t.Fatal(err)
	}
	if d.OS.Min != "13.5" {
		t.Errorf("min OS %q, want 13.5", d.OS.Min)
	}
	for _, bad := range []string{"twelve", "12.", "12.0.0.1", "-1"} {
		if _, err := New(Config{MinOSVersion: bad}); err == nil {
			t.Errorf("New accepted min OS %q", bad)
		}
	}
}

func TestReproducible(t *testing.T) {
	t.Parallel()
	a, b := build(t, fixture(50000)), build(t, fixture(50000))
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same Package differ")
	}
	shuffled := fixture(50000)
	rng := rand.New(rand.NewPCG(7, 7))
	rng.Shuffle(len(shuffled.Files), func(i, j int) { shuffled.Files[i], shuffled.Files[j] = shuffled.Files[j], shuffled.Files[i] })
	if !bytes.Equal(a, build(t, shuffled)) {
		t.Fatal("the same Files in another order gave another package")
	}
	later := fixture(50000)
	later.ModTime = stamp.Add(time.Second)
	if bytes.Equal(a, build(t, later)) {
		t.Fatal("another ModTime gave the same package")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(p *packaging.Package)
		want   string
	}{
		{"unknown arch", func(p *packaging.Package) { p.Arch = "386" }, "unknown arch"},
		{"relative path", func(p *packaging.Package) { p.Files[0].Path = "opt/orbit/x" }, "relative"},
		{"duplicate path", func(p *packaging.Package) { p.Files = append(p.Files, p.Files[2]) }, "listed twice"},
		{"NUL in a name", func(p *packaging.Package) { p.Files[0].Path = "/opt/orbit/a\x00b" }, "control character"},
		{"newline in a name", func(p *packaging.Package) { p.Files[0].Path = "/opt/orbit/a\nb" }, "control character"},
		{"unclean path", func(p *packaging.Package) { p.Files[0].Path = "/opt/orbit/../etc/x" }, "not clean"},
		{"trailing slash", func(p *packaging.Package) { p.Files[0].Path = "/opt/orbit/x/" }, "not clean"},
		{"the root", func(p *packaging.Package) { p.Files[0].Path = "/" }, "implicit"},
		{"file under a file", func(p *packaging.Package) {
			p.Files = append(p.Files, packaging.File{Path: "/opt/orbit/secret.txt/x", Mode: 0o644})
		}, "not a directory"},
		{"symlink without target", func(p *packaging.Package) { p.Files[3].LinkTarget = "" }, "needs a target"},
		{"file with target", func(p *packaging.Package) { p.Files[2].LinkTarget = "/x" }, "link target"},
		{"directory with data", func(p *packaging.Package) { p.Files[1].Data = []byte("x") }, "cannot have data"},
		{"device", func(p *packaging.Package) { p.Files[2].Mode = fs.ModeDevice | 0o600 }, "only regular files"},
		{"unknown owner", func(p *packaging.Package) { p.Files[2].Owner = "mallory" }, "unknown owner"},
		{"unknown group", func(p *packaging.Package) { p.Files[2].Group = "everyone" }, "unknown group"},
		{"complete script as a hook", func(p *packaging.Package) { p.Scripts.AfterInstall = "#!/bin/sh\nlaunchctl list\n" }, "no #! line"},
		{"NUL in a hook", func(p *packaging.Package) { p.Scripts.BeforeInstall = "true\x00" }, "NUL"},
		{"bad identifier", func(p *packaging.Package) { p.Identifier = "orbit" }, "reverse-DNS"},
		{"identifier with quote", func(p *packaging.Package) { p.Identifier = `com.example."x` }, "reverse-DNS"},
		{"bad name", func(p *packaging.Package) { p.Name = "../orbit" }, "package name"},
		{"empty version", func(p *packaging.Package) { p.Version = "" }, "version"},
		{"no ModTime", func(p *packaging.Package) { p.ModTime = time.Time{} }, "ModTime"},
	}
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := fixture(16)
			tt.modify(p)
			formattest.Refused(t, f, p, tt.want)
		})
	}
	formattest.RefusesNilAndCancelled(t, f, fixture(16))
}

// A file whose parents are not listed is fine: they are created 0755
// root:wheel, the way Apple's installer creates missing directories.
func TestMissingParentsAreCreated(t *testing.T) {
	t.Parallel()
	p := fixture(16)
	p.Files = []packaging.File{{Path: "/usr/local/libexec/orbit/helper", Mode: 0o755, Data: []byte("#!/bin/sh\n")}}
	p.Scripts = packaging.Scripts{}
	u := unpack(t, p)
	lines := cpioList(t, u.dir, u.gunzipTo(t, "orbit.pkg/Payload"))
	var got []string
	for _, l := range lines {
		got = append(got, fmt.Sprintf("%s %s:%s %s", l.mode, l.uid, l.gid, l.name))
	}
	want := []string{
		"drwxr-xr-x 0:0 .",
		"drwxr-xr-x 0:0 ./usr",
		"drwxr-xr-x 0:0 ./usr/local",
		"drwxr-xr-x 0:0 ./usr/local/libexec",
		"drwxr-xr-x 0:0 ./usr/local/libexec/orbit",
		"-rwxr-xr-x 0:80 ./usr/local/libexec/orbit/helper",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Payload:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b, err := bomtest.Read(u.read(t, "orbit.pkg/Bom"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != len(want) {
		t.Errorf("BOM has %d paths, want %d", len(b.Entries), len(want))
	}
}

// Names with spaces and non-ASCII letters survive every layer.
func TestUnusualNames(t *testing.T) {
	t.Parallel()
	p := fixture(16)
	name := "/Applications/Orbit Desktop.app/Contents/Resources/été & <x>.txt"
	p.Files = append(p.Files, packaging.File{Path: name, Mode: 0o644, Data: []byte("ok")})
	u := unpack(t, p)
	re := regexp.MustCompile(`(?m)^\./Applications/Orbit Desktop\.app/Contents/Resources/été & <x>\.txt$`)
	if out := testbin.RunTool(t, u.dir, "cpio", "-it", "--quiet", "-F", u.gunzipTo(t, "orbit.pkg/Payload")); !re.Match(out) {
		t.Errorf("cpio -it does not list %q:\n%s", name, out)
	}
	b, err := bomtest.Read(u.read(t, "orbit.pkg/Bom"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.ByPath()["."+name]; !ok {
		t.Errorf("BOM lacks %q", name)
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "pkg" {
		t.Errorf("Name() = %q", f.Name())
	}
}

// BenchmarkPkgBuild builds a package of about 30 MB: two 15 MB binaries
// and the rest of the fixture.
func BenchmarkPkgBuild(b *testing.B) {
	p := fixture(15 << 20)
	f, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, file := range p.Files {
		size += int64(len(file.Data))
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		var cw countingWriter
		if err := f.Build(context.Background(), p, &cw); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cw), "pkg-bytes")
	}
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
