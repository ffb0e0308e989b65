package repo

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Rotate replaces role's keys with new ones and revokes the old ones in a
// new root version. The new root is signed by the old root keys (meeting
// the old threshold) and, for a root rotation, by the new root keys too, so
// clients holding the old root follow it. The rotated role and the roles
// below it (targets -> snapshot -> timestamp) are re-signed with the new
// key. Old private keys move to keys/revoked. Everything is staged first:
// on any failure the repository is left as it was.
func (r *Repo) Rotate(role string) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("unknown role %q: use one of %s", role, strings.Join(Roles, ", "))
	}
	st, err := r.load()
	if err != nil {
		return err
	}
	now := r.opts.Clock.Now()
	// Old root keys sign the new root; the new key gets the passphrase of
	// the key it replaces; roles below a rotated one are re-signed.
	need := []string{RoleRoot, role}
	chainFrom := ""
	chain := []string{RoleTargets, RoleSnapshot, RoleTimestamp}
	if i := slices.Index(chain, role); i >= 0 {
		chainFrom = role
		need = append(need, chain[i+1:]...)
	}
	keys, err := r.unlock(st.root, need...)
	if err != nil {
		return err
	}
	oldRoot, oldKeys, pass := keys[RoleRoot], keys[role], r.passphrase[role]

	tx, err := newTxn(r.dir)
	if err != nil {
		return err
	}
	defer tx.abort()

	var newKeys []*roleKey
	for range oldKeys {
		k, err := newRoleKey(role)
		if err != nil {
			return err
		}
		b, err := encryptKey(k, pass, r.opts.ScryptLogN)
		if err != nil {
			return err
		}
		if err := tx.writeFile(filepath.Join(KeysDir, k.file), b, 0o600); err != nil {
			return err
		}
		newKeys = append(newKeys, k)
	}
	root := st.root
	for _, k := range oldKeys {
		if err := root.Signed.RevokeKey(k.id, role); err != nil {
			return fmt.Errorf("revoke old %s key: %w", role, err)
		}
		tx.move(filepath.Join(KeysDir, k.file), filepath.Join(RevokedDir, k.file))
	}
	for _, k := range newKeys {
		if err := root.Signed.AddKey(k.public, role); err != nil {
			return fmt.Errorf("add new %s key: %w", role, err)
		}
	}
	root.Signed.Version++
	root.Signed.Expires = expiry(now, r.opts.Expiries.Root)
	signers := [][]*roleKey{oldRoot}
	if role == RoleRoot {
		signers = append(signers, newKeys)
	}
	if err := signRoot(root, signers...); err != nil {
		return err
	}
	if err := stageRoot(tx, root); err != nil {
		return err
	}
	if chainFrom != "" {
		keys[role] = newKeys
		if err := resign(tx, st, chainFrom, keys, now, r.opts.Expiries, r.consistent); err != nil {
			return err
		}
	}
	if err := tx.commit(); err != nil {
		return err
	}
	r.keys[role] = newKeys
	return nil
}

// rootRole is a shorthand for tests and status.
func rootRole(root *metadata.Metadata[metadata.RootType], role string) *metadata.Role {
	return root.Signed.Roles[role]
}
