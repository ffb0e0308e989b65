// Package authenticode signs Windows executables (PE, such as orbit.exe)
// and Windows Installer packages (msi) with Authenticode, in pure Go with
// relic's libraries, from a PEM certificate chain and private key
// (--authenticode-cert, --authenticode-key).
//
// relic signs both formats, so osslsigncode is not needed to sign; it is
// what the tests verify with. Signatures carry SHA-256 digests and an
// SpcSpOpusInfo with the program name. There is no RFC 3161 timestamp (that
// needs a timestamp server on the network): Windows stops trusting the
// signature when the certificate expires, so sign with a certificate that
// outlives the package's deployment, or re-sign with a timestamping tool.
// With an RSA key and no timestamp, the same input signs to the same bytes.
package authenticode

import (
	"fmt"
	"os"

	"github.com/orbitagent/orbit/clock"
)

// Config names the certificate and key.
type Config struct {
	// CertPEM is the signing certificate first, then its intermediates
	// (a root may follow; it is left out of the signature).
	CertPEM []byte
	// KeyPEM is the certificate's private key: PKCS#1, PKCS#8 or SEC 1.
	KeyPEM []byte
	// Description is the program name Windows shows in the UAC prompt and
	// the file's Digital Signatures tab; empty shows the file name.
	Description string
	// URL is the signature's "more info" link; optional.
	URL string
	// Clock checks the certificate's validity period; nil is the real one.
	Clock clock.Clock
}

// ReadConfig reads the certificate chain and key from PEM files
// (--authenticode-cert, --authenticode-key).
func ReadConfig(certPath, keyPath string) (Config, error) {
	cert, err := os.ReadFile(certPath)
	if err != nil {
		return Config{}, fmt.Errorf("authenticode: read certificate: %w", err)
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return Config{}, fmt.Errorf("authenticode: read key: %w", err)
	}
	return Config{CertPEM: cert, KeyPEM: key}, nil
}
