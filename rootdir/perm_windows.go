package rootdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// inspect reads the owner and DACL of p (fi is its Stat).
func inspect(p string, fi os.FileInfo) (verdict, error) {
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return verdict{}, fmt.Errorf("read the ACL: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return verdict{}, fmt.Errorf("read the owner: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil && err != windows.ERROR_OBJECT_NOT_FOUND {
		return verdict{}, fmt.Errorf("read the DACL: %w", err)
	}
	var aces []ace
	if dacl != nil {
		for i := uint32(0); i < uint32(dacl.AceCount); i++ {
			var a *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(dacl, i, &a); err != nil {
				return verdict{}, fmt.Errorf("read ACE %d: %w", i, err)
			}
			e := ace{Type: a.Header.AceType, Flags: a.Header.AceFlags, Mask: uint32(a.Mask)}
			if e.Type == aceAllowed || e.Type == aceDenied {
				// Both layouts put the SID right after the mask.
				e.SID = (*windows.SID)(unsafe.Pointer(&a.SidStart)).String()
			}
			aces = append(aces, e)
		}
	}
	return judgeACL(owner.String(), dacl == nil, aces, fi.IsDir(), selfSID()), nil
}

// inspectLink trusts a link's owner: creating a symbolic link on Windows
// takes a privilege that only administrators have by default.
func inspectLink(string, os.FileInfo) (verdict, error) { return verdict{ownerOK: true}, nil }

// selfSID is the SID orbit runs as ("" if unknown).
func selfSID() string {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return ""
	}
	return u.User.Sid.String()
}

func fixWritable(p string) string {
	return "remove the write access of every account but SYSTEM and Administrators (`icacls \"" + p + "\"` shows it)"
}

func fixOwner(p string) string {
	return "run `icacls \"" + p + "\" /setowner Administrators`"
}

// systemDirs are directories that belong to Windows or to other software.
func systemDirs() []string {
	var dirs []string
	for _, env := range []string{"SystemRoot", "ProgramFiles", "ProgramFiles(x86)", "ProgramW6432", "ProgramData", "PUBLIC", "USERPROFILE", "TEMP", "TMP"} {
		if v := os.Getenv(env); v != "" {
			dirs = append(dirs, v)
		}
	}
	if d := os.Getenv("SystemDrive"); d != "" {
		dirs = append(dirs, d+`\Users`, d+`\Windows`, d+`\Program Files`, d+`\Program Files (x86)`, d+`\ProgramData`)
	}
	return append(dirs, `C:\Windows`, `C:\Program Files`, `C:\Program Files (x86)`, `C:\ProgramData`, `C:\Users`)
}

func sameDir(a, b string) bool {
	return strings.EqualFold(filepath.Clean(a), filepath.Clean(b))
}
