package repo

import (
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// ErrWrongPassphrase is returned (wrapped) when a role's key cannot be
// decrypted with the passphrase given for it.
var ErrWrongPassphrase = errors.New("wrong passphrase")

const (
	keyFileFormat = "orbitctl-encrypted-key-v1"
	// DefaultScryptLogN is log2 of scrypt's N for new keys: 2^15 costs about
	// 100 ms and 32 MiB per key, which slows offline guessing down.
	DefaultScryptLogN = 15
	scryptR           = 8
	scryptP           = 1
)

// keyFile is the on-disk form of one encrypted private key. The KDF
// parameters travel with the key so cheaper test keys still open.
type keyFile struct {
	Format     string    `json:"format"`
	Role       string    `json:"role"`
	KeyID      string    `json:"keyid"`
	KeyType    string    `json:"keytype"`
	Public     string    `json:"public"`
	KDF        kdfParams `json:"kdf"`
	Cipher     string    `json:"cipher"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
}

type kdfParams struct {
	Name string `json:"name"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
}

// roleKey is a decrypted private key with its TUF public form.
type roleKey struct {
	id     string
	role   string
	priv   ed25519.PrivateKey
	public *metadata.Key
	file   string // base name under keys/
}

func (k *roleKey) signer() (signature.Signer, error) {
	return signature.LoadED25519Signer(k.priv)
}

func newRoleKey(role string) (*roleKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", role, err)
	}
	return keyFromPrivate(role, pub, priv)
}

func keyFromPrivate(role string, pub ed25519.PublicKey, priv ed25519.PrivateKey) (*roleKey, error) {
	tk, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("convert %s public key: %w", role, err)
	}
	id, err := tk.ID()
	if err != nil {
		return nil, fmt.Errorf("compute %s key id: %w", role, err)
	}
	return &roleKey{id: id, role: role, priv: priv, public: tk, file: keyFileName(role, id)}, nil
}

func keyFileName(role, id string) string {
	return role + "-" + id[:16] + ".json"
}

func keyAAD(role, id string) []byte {
	return []byte(keyFileFormat + "|" + role + "|" + id)
}

// encryptKey seals the key's seed with XChaCha20-Poly1305 under a key derived
// from the passphrase by scrypt; role and key id are bound as associated data
// so a key file cannot be passed off as another role's.
func encryptKey(k *roleKey, passphrase []byte, logN int) ([]byte, error) {
	if logN <= 0 {
		logN = DefaultScryptLogN
	}
	kdf := kdfParams{Name: "scrypt", N: 1 << logN, R: scryptR, P: scryptP, Salt: make([]byte, 32)}
	if _, err := rand.Read(kdf.Salt); err != nil {
		return nil, fmt.Errorf("read random salt: %w", err)
	}
	aead, err := deriveAEAD(passphrase, kdf)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	kf := keyFile{
		Format:     keyFileFormat,
		Role:       k.role,
		KeyID:      k.id,
		KeyType:    metadata.KeyTypeEd25519,
		Public:     k.public.Value.PublicKey,
		KDF:        kdf,
		Cipher:     "xchacha20-poly1305",
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, k.priv.Seed(), keyAAD(k.role, k.id)),
	}
	return json.MarshalIndent(kf, "", "  ")
}

func deriveAEAD(passphrase []byte, kdf kdfParams) (cipher.AEAD, error) {
	if kdf.Name != "scrypt" {
		return nil, fmt.Errorf("unsupported key derivation %q: the key file was not written by orbitctl", kdf.Name)
	}
	// Bound the cost a tampered key file can ask for (2^22 * r=8 is 4 GiB).
	if kdf.N > 1<<21 || kdf.R > 32 || kdf.P > 16 {
		return nil, fmt.Errorf("key file asks for scrypt N=%d r=%d p=%d, beyond what orbitctl writes: restore keys/ from your backup", kdf.N, kdf.R, kdf.P)
	}
	dk, err := scrypt.Key(passphrase, kdf.Salt, kdf.N, kdf.R, kdf.P, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive key from passphrase: %w", err)
	}
	return chacha20poly1305.NewX(dk)
}

// readKeyFile parses a key file without decrypting it.
func readKeyFile(path string) (*keyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Format != keyFileFormat {
		return nil, fmt.Errorf("key file %s is not an orbitctl key file", path)
	}
	return &kf, nil
}

func decryptKey(kf *keyFile, passphrase []byte) (*roleKey, error) {
	aead, err := deriveAEAD(passphrase, kf.KDF)
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, kf.Nonce, kf.Ciphertext, keyAAD(kf.Role, kf.KeyID))
	if err != nil {
		return nil, fmt.Errorf("%w for the %s key: check ORBIT_%s_PASSPHRASE (or FLEET_%s_PASSPHRASE) and try again",
			ErrWrongPassphrase, kf.Role, strings.ToUpper(kf.Role), strings.ToUpper(kf.Role))
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key %s for role %s is corrupt: restore keys/ from your backup", kf.KeyID, kf.Role)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k, err := keyFromPrivate(kf.Role, priv.Public().(ed25519.PublicKey), priv)
	if err != nil {
		return nil, err
	}
	if k.id != kf.KeyID {
		return nil, fmt.Errorf("key file for %s key %s holds a different key: restore keys/ from your backup", kf.Role, kf.KeyID)
	}
	return k, nil
}

// loadRoleKeys decrypts the private keys of role listed in ids from keysDir.
func loadRoleKeys(keysDir, role string, ids []string, passphrase []byte) ([]*roleKey, error) {
	var keys []*roleKey
	for _, id := range ids {
		kf, err := readKeyFile(filepath.Join(keysDir, keyFileName(role, id)))
		if err != nil {
			return nil, fmt.Errorf("no private key for %s key %s in %s: %w", role, id, keysDir, err)
		}
		if kf.Role != role || kf.KeyID != id {
			return nil, fmt.Errorf("key file %s does not hold %s key %s: restore keys/ from your backup", keyFileName(role, id), role, id)
		}
		k, err := decryptKey(kf, passphrase)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("root.json lists no keys for role %s: the repository is damaged", role)
	}
	return keys, nil
}
