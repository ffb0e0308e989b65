package msi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// namespace seeds every name-based GUID of our msi files, so an identifier
// gives the same UpgradeCode on every machine and in every release.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/orbitagent/orbit/packaging/msi"))

// guid formats a name-based (version 5) UUID as Windows Installer wants it.
func guid(ns uuid.UUID, name string) string {
	return "{" + strings.ToUpper(uuid.NewSHA1(ns, []byte(name)).String()) + "}"
}

// upgradeCode is stable for an identifier: every version of one agent
// shares it, which is what makes the major upgrade find the old one.
func upgradeCode(identifier string) uuid.UUID {
	return uuid.NewSHA1(namespace, []byte("UpgradeCode\x00"+identifier))
}

// id is a Windows Installer identifier for a path: letters, digits and
// underscores, at most 72 characters, the same in every build.
func id(prefix, p string) string {
	sum := sha256.Sum256([]byte(p))
	return prefix + strings.ToUpper(hex.EncodeToString(sum[:16]))
}

// shortNameRe matches a valid 8.3 name (case is kept, as WiX does).
var shortNameRe = regexp.MustCompile(`^[^\\?|><:/*"+,;=\[\]. ]{1,8}(\.[^\\?|><:/*"+,;=\[\]. ]{1,3})?$`)

// msiName is the Filename column value: the long name alone when it is a
// valid 8.3 name, else "short|long" with a short name made from a hash of
// the full path (unique within the directory, stable between builds).
func msiName(fullPath string) string {
	long := path.Base(fullPath)
	if shortNameRe.MatchString(long) {
		return long
	}
	sum := sha256.Sum256([]byte(fullPath))
	short := strings.ToUpper(hex.EncodeToString(sum[:4]))
	if ext := path.Ext(long); ext != "" && ext != long {
		e := strings.Map(func(r rune) rune {
			if strings.ContainsRune(`\?|><:/*"+,;=[]. `, r) || r > 0x7e {
				return -1
			}
			return r
		}, ext[1:])
		if len(e) > 3 {
			e = e[:3]
		}
		if e != "" {
			short += "." + e
		}
	}
	return short + "|" + long
}

// productVersion turns a package version into Windows Installer's
// major.minor.build (major, minor < 256; build < 65536). A pre-release or
// build suffix ("-rc1", "+abc") is dropped: the Upgrade table replaces an
// installed build of the same version, so two builds of 1.2.3 still upgrade.
func productVersion(v string) (string, error) {
	core := v
	if i := strings.IndexAny(core, "-+~"); i >= 0 {
		core = core[:i]
	}
	core = strings.TrimPrefix(core, "v")
	parts := strings.Split(core, ".")
	if len(parts) < 1 || len(parts) > 3 {
		return "", fmt.Errorf("version %q: an msi needs major.minor.patch (numbers)", v)
	}
	limits := []int{255, 255, 65535}
	nums := make([]string, 3)
	for i := range nums {
		nums[i] = "0"
		if i >= len(parts) {
			continue
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || parts[i] == "" {
			return "", fmt.Errorf("version %q: an msi needs major.minor.patch (numbers)", v)
		}
		if n > limits[i] {
			return "", fmt.Errorf("version %q: an msi version is major.minor.patch with major and minor at most 255 and patch at most 65535", v)
		}
		nums[i] = strconv.Itoa(n)
	}
	return strings.Join(nums, "."), nil
}

// InstallDir may appear in Service.Args: the installer replaces it with the
// install folder (with its trailing backslash), e.g.
// "--root-dir=" + InstallDir or "--enroll-secret-path=" + InstallDir + "secret.txt".
const InstallDir = "[INSTALLDIR]"

// serviceArguments renders args as the ServiceInstall Arguments column:
// Windows command-line quoting (CommandLineToArgvW rules) around Windows
// Installer formatted text, where only InstallDir is a property reference.
func serviceArguments(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		hasDir := strings.Contains(a, InstallDir)
		// The folder ends in a backslash: before a closing quote it would
		// escape the quote, so a trailing reference gets a "." (the same folder).
		if strings.HasSuffix(a, InstallDir) {
			a += "."
		}
		parts := strings.Split(a, InstallDir)
		for j, p := range parts {
			parts[j] = escapeFormatted(p)
		}
		a = strings.Join(parts, InstallDir)
		out[i] = quoteArg(a, hasDir)
	}
	return strings.Join(out, " ")
}

// escapeFormatted keeps brackets and braces literal in formatted text.
func escapeFormatted(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '[':
			b.WriteString(`[\[]`)
		case ']':
			b.WriteString(`[\]]`)
		case '{':
			b.WriteString(`[\{]`)
		case '}':
			b.WriteString(`[\}]`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// quoteArg quotes one argument the way CommandLineToArgvW splits it back;
// force quotes an argument whose expansion (a path) may hold spaces.
func quoteArg(s string, force bool) string {
	if s != "" && !force && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}
