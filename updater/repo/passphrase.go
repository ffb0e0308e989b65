package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Passphrases supplies the passphrase that encrypts a role's private keys.
// confirm is true when a new key is being created, so an interactive source
// asks twice.
type Passphrases interface {
	Passphrase(role string, confirm bool) ([]byte, error)
}

// ErrNoPassphrase means a source has no passphrase for the role; Chain moves
// on to the next source.
var ErrNoPassphrase = errors.New("no passphrase")

// MapPassphrases is a fixed role -> passphrase map, for tests and scripts.
type MapPassphrases map[string]string

// Passphrase implements Passphrases.
func (m MapPassphrases) Passphrase(role string, _ bool) ([]byte, error) {
	p, ok := m[role]
	if !ok {
		return nil, fmt.Errorf("%w for the %s key", ErrNoPassphrase, role)
	}
	return []byte(p), nil
}

// EnvPassphrases reads ORBIT_<ROLE>_PASSPHRASE, then Fleet's
// FLEET_<ROLE>_PASSPHRASE. Getenv defaults to os.Getenv.
type EnvPassphrases struct {
	Getenv func(string) string
}

// Passphrase implements Passphrases.
func (e EnvPassphrases) Passphrase(role string, _ bool) ([]byte, error) {
	get := e.Getenv
	if get == nil {
		get = os.Getenv
	}
	for _, prefix := range []string{"ORBIT_", "FLEET_"} {
		if v := get(prefix + strings.ToUpper(role) + "_PASSPHRASE"); v != "" {
			return []byte(v), nil
		}
	}
	return nil, fmt.Errorf("%w for the %s key: set ORBIT_%s_PASSPHRASE", ErrNoPassphrase, role, strings.ToUpper(role))
}

// TerminalPassphrases asks on a terminal without echo. In must be a
// terminal; prompts go to Out. When Context ends during a prompt, the
// prompt returns its error at once and the terminal gets its echo back.
type TerminalPassphrases struct {
	In      *os.File
	Out     io.Writer
	Context context.Context
}

// Passphrase implements Passphrases.
func (t TerminalPassphrases) Passphrase(role string, confirm bool) ([]byte, error) {
	if t.In == nil || !term.IsTerminal(int(t.In.Fd())) {
		return nil, fmt.Errorf("%w for the %s key: set ORBIT_%s_PASSPHRASE or run in a terminal", ErrNoPassphrase, role, strings.ToUpper(role))
	}
	verb := "Enter"
	if confirm {
		verb = "Choose a"
	}
	p, err := t.read(fmt.Sprintf("%s passphrase for the %s key: ", verb, role))
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := t.read(fmt.Sprintf("Repeat the passphrase for the %s key: ", role))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, again) {
			return nil, fmt.Errorf("the two passphrases for the %s key differ: run the command again", role)
		}
	}
	return p, nil
}

func (t TerminalPassphrases) read(prompt string) ([]byte, error) {
	fmt.Fprint(t.Out, prompt)
	p, err := t.readPassword()
	fmt.Fprintln(t.Out)
	if err != nil {
		return nil, fmt.Errorf("read passphrase from terminal: %w", err)
	}
	return p, nil
}

// readPassword is term.ReadPassword, ended by t.Context: a read of a
// terminal cannot be interrupted, so it is left to finish in its goroutine
// (the process is about to exit) and the echo is restored here.
func (t TerminalPassphrases) readPassword() ([]byte, error) {
	fd := int(t.In.Fd())
	if t.Context == nil {
		return term.ReadPassword(fd)
	}
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	type result struct {
		p   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := term.ReadPassword(fd)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-t.Context.Done():
		_ = term.Restore(fd, state)
		return nil, t.Context.Err()
	}
}

// ChainPassphrases tries each source in turn, skipping those that return
// ErrNoPassphrase.
type ChainPassphrases []Passphrases

// Passphrase implements Passphrases.
func (c ChainPassphrases) Passphrase(role string, confirm bool) ([]byte, error) {
	var last error = fmt.Errorf("%w for the %s key", ErrNoPassphrase, role)
	for _, p := range c {
		b, err := p.Passphrase(role, confirm)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, ErrNoPassphrase) {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// getPassphrase asks src and refuses an empty passphrase.
func getPassphrase(src Passphrases, role string, confirm bool) ([]byte, error) {
	if src == nil {
		return nil, fmt.Errorf("%w for the %s key: set ORBIT_%s_PASSPHRASE", ErrNoPassphrase, role, strings.ToUpper(role))
	}
	p, err := src.Passphrase(role, confirm)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("empty passphrase for the %s key: choose a non-empty passphrase", role)
	}
	return p, nil
}
