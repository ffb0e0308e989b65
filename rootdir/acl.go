package rootdir

import (
	"fmt"
	"strings"
)

// A Windows ACL, as far as the permission check reads it: the pure part,
// kept free of Windows calls so it is tested on every platform.

// ace is one entry of a DACL.
type ace struct {
	Type  uint8
	Flags uint8
	Mask  uint32
	SID   string
}

// ACE types, flags and rights the check reads (winnt.h).
const (
	aceAllowed     = 0x0
	aceDenied      = 0x1
	aceInheritOnly = 0x8

	rightAddFile         = 0x2 // FILE_ADD_FILE; FILE_WRITE_DATA on a file
	rightAddSubdirectory = 0x4 // FILE_ADD_SUBDIRECTORY; FILE_APPEND_DATA on a file
	rightDeleteChild     = 0x40
	rightDelete          = 0x10000
	rightWriteDAC        = 0x40000
	rightWriteOwner      = 0x80000
	rightMaximumAllowed  = 0x2000000
	rightGenericAll      = 0x10000000
	rightGenericWrite    = 0x40000000
)

// Well-known SIDs.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
	sidTrustedInst    = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	sidCreatorOwner   = "S-1-3-0"
	sidCreatorGroup   = "S-1-3-1"
	sidOwnerRights    = "S-1-3-4"
)

// trustedSID is an account that can already do what orbit does.
func trustedSID(sid, self string) bool {
	switch sid {
	case sidSystem, sidAdministrators, sidTrustedInst:
		return true
	}
	return sid != "" && sid == self
}

// judgeACL is the verdict on an object with this owner and DACL (nilDACL:
// no DACL at all, which grants everyone everything). self is the SID orbit
// runs as. Deny entries are not subtracted: an allow entry for others is
// refused even where a deny entry would narrow it.
func judgeACL(owner string, nilDACL bool, aces []ace, isDir bool, self string) verdict {
	v := verdict{ownerOK: trustedSID(owner, self), owner: owner}
	if nilDACL {
		v.others, v.why = accessWrite, "no DACL: everyone has full control"
		return v
	}
	write := uint32(rightDeleteChild | rightDelete | rightWriteDAC | rightWriteOwner | rightMaximumAllowed | rightGenericAll | rightGenericWrite)
	create := uint32(rightAddFile | rightAddSubdirectory)
	if !isDir {
		// On a file these rights change its content.
		write |= create
		create = 0
	}
	var why []string
	for _, a := range aces {
		if a.Flags&aceInheritOnly != 0 || a.Type == aceDenied {
			continue // applies to children only, or narrows access
		}
		switch a.SID {
		case sidCreatorOwner, sidCreatorGroup, sidOwnerRights:
			continue // placeholders: they grant nothing on the object itself
		}
		if trustedSID(a.SID, self) {
			continue
		}
		if a.Type != aceAllowed {
			// Object and callback entries are not read here: refuse
			// rather than guess.
			v.others = accessWrite
			why = append(why, fmt.Sprintf("an ACE of type %d for %s", a.Type, a.SID))
			continue
		}
		switch {
		case a.Mask&write != 0:
			v.others = accessWrite
			why = append(why, fmt.Sprintf("%s may write (access mask %#x)", a.SID, a.Mask))
		case a.Mask&create != 0:
			if v.others < accessCreate {
				v.others = accessCreate
			}
			why = append(why, fmt.Sprintf("%s may create entries (access mask %#x)", a.SID, a.Mask))
		}
	}
	v.why = strings.Join(why, "; ")
	return v
}
