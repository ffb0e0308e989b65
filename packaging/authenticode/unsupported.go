//go:build windows && arm64

package authenticode

import (
	"context"
	"errors"
)

// relic's passprompt package (which its certificate loader imports) has no
// keyring implementation for windows/arm64 and does not compile there, so
// the packager built for windows/arm64 cannot sign. It can on Linux, macOS
// and windows/amd64, where packages are built.
var errUnsupported = errors.New("authenticode: signing is not available in a windows/arm64 build of the packager; sign on Linux, macOS or windows/amd64")

// Signer cannot sign in this build.
type Signer struct{}

// New fails in this build.
func New(Config) (*Signer, error) { return nil, errUnsupported }

// SignPE fails in this build.
func (*Signer) SignPE(context.Context, []byte) ([]byte, error) { return nil, errUnsupported }

// SignMSI fails in this build.
func (*Signer) SignMSI(context.Context, []byte) ([]byte, error) { return nil, errUnsupported }

// Sign fails in this build.
func (*Signer) Sign(context.Context, []byte) ([]byte, error) { return nil, errUnsupported }
