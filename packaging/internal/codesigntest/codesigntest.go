// Package codesigntest issues Authenticode code-signing chains for the
// tests that sign Windows programs and installers and check them with
// osslsigncode: a root CA, an intermediate and a leaf, as a publisher's
// chain from a real CA is.
package codesigntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is a chain for one leaf key, in PEM.
type PKI struct {
	CAPEM     []byte // the root: what osslsigncode -CAfile trusts
	ChainPEM  []byte // the leaf, then the intermediate
	KeyPEM    []byte // the leaf's key, PKCS #8
	NotBefore time.Time
	NotAfter  time.Time
}

// New issues a chain for leafKey with the given leaf extended key usage,
// valid from an hour ago for a day.
func New(t testing.TB, leafKey crypto.Signer, eku []x509.ExtKeyUsage) PKI {
	t.Helper()
	now := time.Now()
	nb, na := now.Add(-time.Hour), now.Add(24*time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Orbit Test Root CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca, caPEM := newCert(t, caTmpl, caTmpl, caKey.Public(), caKey)
	intKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	intTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Orbit Test Code Signing CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	inter, interPEM := newCert(t, intTmpl, ca, intKey.Public(), caKey)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "Orbit Test Publisher", Organization: []string{"Orbit"}},
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
	}
	_, leafPEM := newCert(t, leafTmpl, inter, leafKey.Public(), intKey)
	return PKI{
		CAPEM:     caPEM,
		ChainPEM:  append(leafPEM, interPEM...),
		KeyPEM:    KeyPEM(t, leafKey),
		NotBefore: nb, NotAfter: na,
	}
}

var (
	rsaOnce sync.Once
	rsaPKI  PKI
	rsaErr  error
)

// RSA is a code-signing chain for an RSA-2048 leaf (RSA signatures are
// deterministic, so two signed builds are the same bytes), made once per
// test binary: RSA key generation is slow on a shared machine.
func RSA(t testing.TB) PKI {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			rsaErr = err
			return
		}
		rsaPKI = New(t, k, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning})
	})
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaPKI
}

// WriteFiles writes the root, the chain and the key into dir (0600) and
// returns their paths, for flags that take files.
func (p PKI) WriteFiles(t testing.TB, dir string) (ca, chain, key string) {
	t.Helper()
	ca, chain, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem")
	for path, data := range map[string][]byte{ca: p.CAPEM, chain: p.ChainPEM, key: p.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, chain, key
}

// KeyPEM is k in PKCS #8 PEM.
func KeyPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, []byte) {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
