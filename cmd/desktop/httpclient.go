//go:build !darwin || cgo

package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/orbitagent/orbit/desktop"
	"github.com/orbitagent/orbit/fleet"
	"github.com/orbitagent/orbit/internal/httpclient"
)

// newHTTPClient builds the client for the device API from the TLS
// settings, with the project's one builder, and Fleet's waits.
func newHTTPClient(s desktop.Settings, logger zerolog.Logger) (*http.Client, error) {
	cfg := fleet.HTTPClientConfig(httpclient.Config{CAFile: s.RootCA, Insecure: s.Insecure, Timeout: 45 * time.Second, Logger: logger})
	if s.Insecure && s.RootCA != "" {
		// Fleet Desktop lets insecure win; orbit never passes both.
		logger.Warn().Msg(desktop.EnvInsecure + " is set: " + desktop.EnvRootCA + " is not used")
		cfg.CAFile = ""
	}
	if cfg.CAFile != "" {
		if _, err := os.Stat(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("%s: %w: orbit passes the file of its --fleet-certificate", desktop.EnvRootCA, err)
		}
	}
	hc, err := httpclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desktop.EnvRootCA, err)
	}
	return hc, nil
}
