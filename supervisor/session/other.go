//go:build !linux && !darwin && !windows

package session

import (
	"context"
	"errors"
)

// unsupported lists nothing: there is no session discovery for this
// platform yet.
type unsupported struct{}

// Default is the platform's lister: none here.
func Default(Options) Lister { return unsupported{} }

func (unsupported) Sessions(context.Context) ([]Session, error) {
	return nil, errors.New("finding graphical sessions is not supported on this platform")
}
