package authenticode

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbitagent/orbit/clock/clocktest"
	"github.com/orbitagent/orbit/internal/testbin"
	"github.com/orbitagent/orbit/packaging"
	"github.com/orbitagent/orbit/packaging/internal/codesigntest"
	"github.com/orbitagent/orbit/packaging/msi"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

func signer(t testing.TB, p codesigntest.PKI) *Signer {
	t.Helper()
	s, err := New(Config{CertPEM: p.ChainPEM, KeyPEM: p.KeyPEM, Description: "Orbit osquery", URL: "https://example.com/orbit"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func winExe(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(testbin.BuildFor(t, "./packaging/testdata/winhello", "winhello.exe", "windows", "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verify runs osslsigncode verify against the test CA and returns whether
// it accepted the file, and its output.
func verify(t *testing.T, p codesigntest.PKI, file []byte, name string) (bool, string) {
	t.Helper()
	tool := testbin.NeedTool(t, "osslsigncode")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	in := filepath.Join(dir, name)
	if err := os.WriteFile(ca, p.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", "-CAfile", ca, "-ignore-crl", "-in", in).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run osslsigncode: %v", err)
	}
	return err == nil, string(out)
}

func TestSignPEVerifiesWithOsslsigncode(t *testing.T) {
	t.Parallel()
	p := codesigntest.RSA(t)
	exe := winExe(t)
	signed, err := signer(t, p).SignPE(context.Background(), exe)
	if err != nil {
		t.Fatalf("SignPE: %v", err)
	}
	ok, out := verify(t, p, signed, "orbit.exe")
	if !ok || !strings.Contains(out, "Signature verification: ok") {
		t.Fatalf("osslsigncode rejected the signed exe:\n%s", out)
	}
	for _, want := range []string{"Orbit Test Publisher", "Orbit osquery", "https://example.com/orbit", "SHA256"} {
		if !strings.Contains(out, want) {
			t.Errorf("osslsigncode output lacks %q:\n%s", want, out)
		}
	}
	// The PE checksum was updated for the signed file (Go writes 0).
	if strings.Contains(out, "invalid PE checksum") || strings.Contains(out, "MISMATCH") {
		t.Errorf("osslsigncode reports a mismatch:\n%s", out)
	}
	if ok, _ := verify(t, p, exe, "unsigned.exe"); ok {
		t.Error("osslsigncode accepted the unsigned exe: the test proves nothing")
	}

	// One byte changed in the code: the signature no longer verifies.
	f, err := pe.NewFile(bytes.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	if text == nil {
		t.Fatal("no .text section")
	}
	tampered := bytes.Clone(signed)
	tampered[text.Offset+text.Size/2] ^= 0xff
	if ok, out := verify(t, p, tampered, "tampered.exe"); ok {
		t.Fatalf("osslsigncode accepted a tampered exe:\n%s", out)
	}

	// Re-signing replaces the signature instead of stacking a second one.
	again, err := signer(t, p).SignPE(context.Background(), signed)
	if err != nil {
		t.Fatalf("SignPE of a signed file: %v", err)
	}
	if !bytes.Equal(again, signed) {
		t.Error("signing a signed exe again with the same RSA key changed it")
	}
}

func TestSignMSIVerifiesWithOsslsigncode(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"wixl", "msibuild", "osslsigncode"} {
		testbin.NeedTool(t, tool)
	}
	p := codesigntest.RSA(t)
	exe := winExe(t)
	s := signer(t, p)
	signedExe, err := s.SignPE(context.Background(), exe)
	if err != nil {
		t.Fatal(err)
	}
	pkg := &packaging.Package{
		Name: "orbit", Identifier: "com.example.orbit", Version: "1.0.0", Arch: "amd64", Vendor: "Orbit",
		ModTime: time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC),
		Files:   []packaging.File{{Path: "bin/orbit/orbit.exe", Mode: 0o755, Data: signedExe}},
		Service: packaging.Service{Name: "orbit", Executable: "bin/orbit/orbit.exe", Args: []string{"--root-dir=" + msi.InstallDir}},
	}
	var unsigned bytes.Buffer
	if err := (&msi.Format{}).Build(context.Background(), pkg, &unsigned); err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(context.Background(), unsigned.Bytes())
	if err != nil {
		t.Fatalf("Sign(msi): %v", err)
	}
	ok, out := verify(t, p, signed, "orbit.msi")
	if !ok || !strings.Contains(out, "Signature verification: ok") {
		t.Fatalf("osslsigncode rejected the signed msi:\n%s", out)
	}
	if !strings.Contains(out, "Orbit Test Publisher") {
		t.Errorf("osslsigncode output lacks the signer:\n%s", out)
	}
	if ok, _ := verify(t, p, unsigned.Bytes(), "unsigned.msi"); ok {
		t.Error("osslsigncode accepted the unsigned msi: the test proves nothing")
	}

	// Still an msi that msitools reads, with the signature stream.
	dir := t.TempDir()
	path := filepath.Join(dir, "signed.msi")
	if err := os.WriteFile(path, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if streams, err := exec.Command(testbin.NeedTool(t, "msiinfo"), "streams", path).CombinedOutput(); err != nil ||
		!strings.Contains(string(streams), "DigitalSignature") {
		t.Errorf("msiinfo streams of the signed msi: %v\n%s", err, streams)
	}

	// A changed property (the file stays a valid msi): verification fails.
	if out, err := exec.Command(testbin.NeedTool(t, "msibuild"), path, "-q",
		"UPDATE `Property` SET `Value` = '0' WHERE `Property` = 'ARPNOMODIFY'").CombinedOutput(); err != nil {
		t.Fatalf("msibuild: %v\n%s", err, out)
	}
	tampered, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, out := verify(t, p, tampered, "tampered.msi"); ok {
		t.Fatalf("osslsigncode accepted a tampered msi:\n%s", out)
	}
}

func TestSignWithECDSAKey(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := codesigntest.New(t, k, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning})
	signed, err := signer(t, p).SignPE(context.Background(), winExe(t))
	if err != nil {
		t.Fatalf("SignPE: %v", err)
	}
	if ok, out := verify(t, p, signed, "orbit.exe"); !ok {
		t.Fatalf("osslsigncode rejected an ECDSA signature:\n%s", out)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	t.Parallel()
	p := codesigntest.RSA(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tlsOnly := codesigntest.New(t, other, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	// The intermediate first: its key is not the one given.
	swapped := append(bytes.Clone(p.ChainPEM[bytes.Index(p.ChainPEM, []byte("-----END CERTIFICATE-----"))+26:]), p.ChainPEM...)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no certificate", Config{CertPEM: []byte("not pem"), KeyPEM: p.KeyPEM}, "authenticode: certificate"},
		{"no key", Config{CertPEM: p.ChainPEM, KeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, "authenticode: key"},
		{"key of another certificate", Config{CertPEM: p.ChainPEM, KeyPEM: codesigntest.KeyPEM(t, other)}, "does not belong to the first certificate"},
		{"chain in the wrong order", Config{CertPEM: swapped, KeyPEM: p.KeyPEM}, "does not belong to the first certificate"},
		{"not for code signing", Config{CertPEM: tlsOnly.ChainPEM, KeyPEM: tlsOnly.KeyPEM}, "not for code signing"},
		{"expired", Config{CertPEM: p.ChainPEM, KeyPEM: p.KeyPEM, Clock: clocktest.New(p.NotAfter.Add(time.Minute))}, "not now"},
		{"not yet valid", Config{CertPEM: p.ChainPEM, KeyPEM: p.KeyPEM, Clock: clocktest.New(p.NotBefore.Add(-time.Minute))}, "not now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}

	if _, err := ReadConfig(filepath.Join(t.TempDir(), "missing.pem"), "key.pem"); err == nil || !strings.Contains(err.Error(), "read certificate") {
		t.Errorf("ReadConfig of a missing file: %v", err)
	}
}

func TestSignRefusesOtherFormats(t *testing.T) {
	t.Parallel()
	s := signer(t, codesigntest.RSA(t))
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc/self/exe: %v", err)
	}
	if _, err := s.SignPE(context.Background(), self); err == nil || !strings.Contains(err.Error(), "Linux ELF, not a Windows PE") {
		t.Errorf("SignPE(ELF) error = %v", err)
	}
	if _, err := s.Sign(context.Background(), []byte("#!/bin/sh\n")); err == nil || !strings.Contains(err.Error(), "neither a Windows PE nor an msi") {
		t.Errorf("Sign(script) error = %v", err)
	}
	if _, err := s.SignMSI(context.Background(), []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 truncated")); err == nil {
		t.Error("SignMSI accepted a truncated compound file")
	}
}
