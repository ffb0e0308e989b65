//go:build !(windows && arm64)

package authenticode

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sassoftware/relic/v8/lib/authenticode"
	"github.com/sassoftware/relic/v8/lib/certloader"
	"github.com/sassoftware/relic/v8/lib/comdoc"
	"github.com/sassoftware/relic/v8/lib/x509tools"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/packaging/binfmt"
)

// digest is the hash of every signature: what signtool uses by default and
// what Windows requires of new code-signing certificates.
const digest = crypto.SHA256

// Signer signs with one certificate and key.
type Signer struct {
	cert *certloader.Certificate
	opus authenticode.OpusParams
}

// New checks that the key matches a code-signing certificate that is valid
// now, and returns a Signer.
func New(cfg Config) (*Signer, error) {
	certs, err := certloader.ParseX509Certificates(cfg.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("authenticode: certificate: %w (give the signing certificate and its chain in PEM)", err)
	}
	key, err := certloader.ParseAnyPrivateKey(cfg.KeyPEM, nil)
	if err != nil {
		return nil, fmt.Errorf("authenticode: key: %w (give an unencrypted PEM private key)", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("authenticode: key of type %T cannot sign", key)
	}
	leaf := certs[0]
	if !x509tools.SameKey(leaf.PublicKey, signer.Public()) {
		return nil, errors.New("authenticode: the key does not belong to the first certificate (put the signing certificate first)")
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return nil, fmt.Errorf("authenticode: certificate %q is not for code signing (no codeSigning extended key usage)", leaf.Subject.CommonName)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	if t := clk.Now(); t.Before(leaf.NotBefore) || t.After(leaf.NotAfter) {
		return nil, fmt.Errorf("authenticode: certificate %q is valid from %s to %s, not now",
			leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &Signer{
		cert: &certloader.Certificate{Leaf: leaf, Certificates: certs, PrivateKey: key},
		opus: authenticode.OpusParams{Description: cfg.Description, URL: cfg.URL},
	}, nil
}

// SignPE returns pe with an Authenticode signature (replacing any it had)
// and its PE checksum updated.
func (s *Signer) SignPE(ctx context.Context, pe []byte) ([]byte, error) {
	if k := binfmt.Detect(pe); k != binfmt.PE {
		return nil, fmt.Errorf("authenticode: is a %s, not a Windows PE executable", k)
	}
	pd, err := authenticode.DigestPE(bytes.NewReader(pe), digest, false)
	if err != nil {
		return nil, fmt.Errorf("authenticode: read PE: %w", err)
	}
	patch, _, err := pd.Sign(ctx, s.cert, &s.opus)
	if err != nil {
		return nil, fmt.Errorf("authenticode: sign PE: %w", err)
	}
	// Apply the patch set (the certificate table's data directory, and the
	// signature appended at the end) to a copy.
	var out bytes.Buffer
	pos := int64(0)
	for i, h := range patch.Patches {
		if h.Offset < pos || h.Offset > int64(len(pe)) {
			return nil, errors.New("authenticode: patch out of order")
		}
		out.Write(pe[pos:h.Offset])
		out.Write(patch.Blobs[i])
		pos = h.Offset + int64(h.OldSize)
	}
	if pos < int64(len(pe)) {
		out.Write(pe[pos:])
	}
	signed := out.Bytes()
	peStart := int(binary.LittleEndian.Uint32(signed[0x3c:]))
	ck := authenticode.NewPEChecksum(peStart)
	ck.Write(signed)
	copy(signed[peStart+88:], ck.Sum(nil))
	return signed, nil
}

// SignMSI returns msi with an Authenticode signature (the
// DigitalSignature stream, and MsiDigitalSignatureEx over the metadata).
func (s *Signer) SignMSI(ctx context.Context, msi []byte) ([]byte, error) {
	cdf, err := comdoc.ReadFile(bytes.NewReader(msi))
	if err != nil {
		return nil, fmt.Errorf("authenticode: read msi: %w", err)
	}
	imprint, prehash, err := authenticode.DigestMSI(cdf, digest, true)
	if err != nil {
		return nil, fmt.Errorf("authenticode: digest msi: %w", err)
	}
	ts, err := authenticode.SignMSIImprint(ctx, imprint, digest, s.cert, &s.opus)
	if err != nil {
		return nil, fmt.Errorf("authenticode: sign msi: %w", err)
	}
	// comdoc writes in place into a file.
	dir, err := os.MkdirTemp("", "orbit-authenticode-")
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "signed.msi")
	if err := os.WriteFile(path, msi, 0o600); err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	defer f.Close()
	w, err := comdoc.WriteFile(f)
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	if err := authenticode.InsertMSISignature(w, ts.Raw, prehash); err != nil {
		return nil, fmt.Errorf("authenticode: insert msi signature: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("authenticode: write signed msi: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	return io.ReadAll(f)
}

// Sign signs data as what it is: a PE or an msi.
func (s *Signer) Sign(ctx context.Context, data []byte) ([]byte, error) {
	if binfmt.Detect(data) == binfmt.PE {
		return s.SignPE(ctx, data)
	}
	if bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")) {
		return s.SignMSI(ctx, data)
	}
	return nil, fmt.Errorf("authenticode: is a %s, neither a Windows PE nor an msi", binfmt.Detect(data))
}
