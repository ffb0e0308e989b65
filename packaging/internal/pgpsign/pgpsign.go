// Package pgpsign signs deb and rpm packages with an OpenPGP key, the way
// GnuPG would (a v4 detached signature over SHA-256), but reproducibly: the
// signature's creation time is the package's ModTime (or the key's
// creation, if that is later, since a signature older than its key does
// not verify), and no random salt notation is added, so RSA and EdDSA keys
// give the same bytes for the same package. (DSA and ECDSA signatures are
// random by nature.)
package pgpsign

import (
	"bytes"
	"crypto"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// DefaultPassphraseEnv is the environment variable a key's passphrase is
// read from when the caller names none.
const DefaultPassphraseEnv = "ORBIT_SIGN_PASSPHRASE"

// maxKeyFile bounds the key file: a secret key ring is a few KiB.
const maxKeyFile = 1 << 20

// Signer holds one decrypted signing key.
type Signer struct {
	entity  *openpgp.Entity
	created time.Time
}

// Load reads an OpenPGP secret key (armored or binary, as `gpg
// --export-secret-keys` writes it) holding exactly one key, and decrypts it
// with the passphrase in the environment variable passphraseEnv (default
// DefaultPassphraseEnv) when it is encrypted. The passphrase is never taken
// from a flag: argv is visible to every local user.
func Load(keyFile, passphraseEnv string) (*Signer, error) {
	if passphraseEnv == "" {
		passphraseEnv = DefaultPassphraseEnv
	}
	f, err := os.Open(keyFile)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("signing key %s is larger than %d bytes: it is not an OpenPGP secret key", keyFile, maxKeyFile)
	}
	var ents openpgp.EntityList
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		ents, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		ents, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s is not an OpenPGP key: %w (export it with gpg --export-secret-keys)", keyFile, err)
	}
	if len(ents) != 1 {
		return nil, fmt.Errorf("signing key %s holds %d keys: export exactly one (gpg --export-secret-keys KEYID)", keyFile, len(ents))
	}
	e := ents[0]
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("signing key %s is a public key: export the secret key (gpg --export-secret-keys)", keyFile)
	}
	if encrypted(e) {
		pass, ok := os.LookupEnv(passphraseEnv)
		if !ok {
			return nil, fmt.Errorf("signing key %s is encrypted: put its passphrase in the environment variable %s", keyFile, passphraseEnv)
		}
		if err := e.DecryptPrivateKeys([]byte(pass)); err != nil {
			return nil, fmt.Errorf("signing key %s: wrong passphrase in %s: %w", keyFile, passphraseEnv, err)
		}
	}
	s := &Signer{entity: e, created: e.PrimaryKey.CreationTime}
	for _, sub := range e.Subkeys {
		if sub.PublicKey.CreationTime.After(s.created) {
			s.created = sub.PublicKey.CreationTime
		}
	}
	if _, ok := e.SigningKey(s.created); !ok {
		return nil, fmt.Errorf("signing key %s has no usable signing key (expired, revoked, or encryption-only)", keyFile)
	}
	return s, nil
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// Sign returns a detached signature of data made at when (moved up to the
// key's creation if earlier), ASCII-armored when armored is set.
func (s *Signer) Sign(data io.Reader, when time.Time, armored bool) ([]byte, error) {
	if when.Before(s.created) {
		when = s.created
	}
	if _, ok := s.entity.SigningKey(when); !ok {
		return nil, fmt.Errorf("sign: the signing key is not valid at %s (expired or revoked): use a current key", when.UTC().Format(time.RFC3339))
	}
	deterministic := false
	cfg := &packet.Config{
		DefaultHash:                           crypto.SHA256,
		Time:                                  func() time.Time { return when },
		NonDeterministicSignaturesViaNotation: &deterministic,
	}
	var out bytes.Buffer
	var err error
	if armored {
		err = openpgp.ArmoredDetachSign(&out, s.entity, data, cfg)
	} else {
		err = openpgp.DetachSign(&out, s.entity, data, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return out.Bytes(), nil
}
