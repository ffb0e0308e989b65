package rootdir

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// ProtectSecret sets path's ACL to OwnerOnlySDDL and its owner to SYSTEM,
// so that no local user can read it whatever its folder grants. orbit
// (LocalSystem) calls it at start on the enroll secret and on the node key
// after writing it: the installer's own ACL may not have been applied (an
// older Windows Installer, a copy by hand) and files orbit writes inherit
// Program Files' read access for Users.
func ProtectSecret(path string) error {
	sd, err := windows.SecurityDescriptorFromString("O:SY" + OwnerOnlySDDL)
	if err != nil {
		return fmt.Errorf("parse owner-only ACL: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("owner-only ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("owner-only ACL: %w", err)
	}
	info := windows.SECURITY_INFORMATION(windows.OWNER_SECURITY_INFORMATION |
		windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, owner, nil, dacl, nil); err != nil {
		return fmt.Errorf("restrict %s to SYSTEM and Administrators: %w", path, err)
	}
	return nil
}
