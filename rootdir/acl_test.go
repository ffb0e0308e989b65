package rootdir

import (
	"strings"
	"testing"
)

// The Windows ACL rule, on DACLs as `icacls` shows them on a stock system.
func TestJudgeACL(t *testing.T) {
	t.Parallel()
	const (
		users     = "S-1-5-32-545"
		authUsers = "S-1-5-11"
		appPkgs   = "S-1-15-2-1"
		alice     = "S-1-5-21-1004336348-1177238915-682003330-1001"
		full      = 0x1f01ff
		modify    = 0x1301bf
		readExec  = 0x1200a9
		oici      = 0x3
		oiciio    = 0xb
	)
	base := []ace{
		{aceAllowed, oici, full, sidSystem},
		{aceAllowed, oici, full, sidAdministrators},
		{aceAllowed, oici, readExec, users},
	}
	with := func(extra ...ace) []ace { return append(append([]ace{}, base...), extra...) }
	tests := []struct {
		name    string
		owner   string
		nilDACL bool
		aces    []ace
		dir     bool
		ownerOK bool
		others  access
		why     string
	}{
		{"C:\\ (users may create folders)", sidTrustedInst, false, with(
			ace{aceAllowed, oiciio, modify, authUsers}, // inherited by children only
			ace{aceAllowed, 0, rightAddSubdirectory, authUsers},
		), true, true, accessCreate, authUsers + " may create entries"},
		{"C:\\Program Files", sidTrustedInst, false, with(
			ace{aceAllowed, oiciio, rightGenericAll, sidCreatorOwner},
			ace{aceAllowed, oici, full, sidTrustedInst},
			ace{aceAllowed, oici, readExec, appPkgs},
		), true, true, accessNone, ""},
		{"a folder users may modify", sidAdministrators, false, with(ace{aceAllowed, oici, modify, users}), true, true, accessWrite, users + " may write"},
		{"a folder users may delete", sidAdministrators, false, with(ace{aceAllowed, 0, rightDelete | readExec, users}), true, true, accessWrite, "may write"},
		{"a folder users may re-own", sidAdministrators, false, with(ace{aceAllowed, 0, rightWriteDAC, users}), true, true, accessWrite, "may write"},
		{"a file users may append to", sidAdministrators, false, with(ace{aceAllowed, 0, rightAddSubdirectory, users}), false, true, accessWrite, "may write"},
		{"a file users may read", sidSystem, false, base, false, true, accessNone, ""},
		{"no DACL", sidAdministrators, true, nil, true, true, accessWrite, "everyone has full control"},
		{"owned by a user", alice, false, base, true, false, accessNone, ""},
		{"owned by orbit's own account", alice + "-self", false, base, true, true, accessNone, ""},
		{"a deny entry does not count", sidAdministrators, false, with(ace{aceDenied, 0, full, users}), true, true, accessNone, ""},
		{"an object entry is not guessed at", sidAdministrators, false, with(ace{5, 0, 0, ""}), true, true, accessWrite, "type 5"},
		{"creator owner on the object grants nothing", sidAdministrators, false, with(ace{aceAllowed, 0, full, sidCreatorOwner}), true, true, accessNone, ""},
		{"a user's own entry", sidAdministrators, false, with(ace{aceAllowed, oici, full, alice}), true, true, accessWrite, alice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := judgeACL(tt.owner, tt.nilDACL, tt.aces, tt.dir, alice+"-self")
			if v.ownerOK != tt.ownerOK || v.others != tt.others || !strings.Contains(v.why, tt.why) {
				t.Fatalf("judgeACL = %+v, want owner ok %v, others %d, why containing %q", v, tt.ownerOK, tt.others, tt.why)
			}
		})
	}
}
