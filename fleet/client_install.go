package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// Software install paths (Fleet's server/service/handler.go).
const (
	PathSoftwareInstallDetails = "/api/fleet/orbit/software_install/details"
	PathSoftwareInstallPackage = "/api/fleet/orbit/software_install/package"
	PathSoftwareInstallResult  = "/api/fleet/orbit/software_install/result"
)

// InstallDetails is what the server says about one queued install (Fleet's
// fleet.SoftwareInstallDetails). Empty scripts and conditions were not set.
type InstallDetails struct {
	InstallID           string `json:"install_id"`
	InstallerID         uint   `json:"installer_id"`
	PreInstallCondition string `json:"pre_install_condition"`
	InstallScript       string `json:"install_script"`
	UninstallScript     string `json:"uninstall_script"`
	PostInstallScript   string `json:"post_install_script"`
	SelfService         bool   `json:"self_service"`
	// SHA256 is the package's hex SHA-256, checked after the download when
	// a server sends it. Fleet's details carry no hash (its storage id is
	// the hash, but not on the wire), so against Fleet nothing is checked,
	// as with Fleet's own agent; the field is for other servers.
	SHA256 string `json:"sha256,omitempty"`
}

type installDetailsRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	InstallUUID  string `json:"install_uuid"`
}

// GetInstallDetails fetches the details of one queued install.
func (c *Client) GetInstallDetails(ctx context.Context, installUUID string) (*InstallDetails, error) {
	var d InstallDetails
	if err := c.do(ctx, http.MethodPost, PathSoftwareInstallDetails, installDetailsRequest{c.getNodeKey(), installUUID}, &d, false); err != nil {
		return nil, err
	}
	return &d, nil
}

// InstallResult is the body of POST /api/fleet/orbit/software_install/result
// (Fleet's HostSoftwareInstallResultPayload). A nil field is a step that did
// not run; Fleet derives the install's status from which ones are set.
type InstallResult struct {
	HostID                    uint    `json:"host_id"`
	InstallUUID               string  `json:"install_uuid"`
	PreInstallConditionOutput *string `json:"pre_install_condition_output"`
	InstallScriptExitCode     *int    `json:"install_script_exit_code"`
	InstallScriptOutput       *string `json:"install_script_output"`
	PostInstallScriptExitCode *int    `json:"post_install_script_exit_code"`
	PostInstallScriptOutput   *string `json:"post_install_script_output"`
}

type installResultRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	InstallResult
}

// PostInstallResult reports an install's outcome (Fleet answers 204).
func (c *Client) PostInstallResult(ctx context.Context, r InstallResult) error {
	return c.do(ctx, http.MethodPost, PathSoftwareInstallResult, installResultRequest{c.getNodeKey(), r}, nil, false)
}

// Download errors.
var (
	ErrPackageTooLarge = errors.New("software package is larger than the allowed size")
	ErrPackageHash     = errors.New("software package does not match the SHA-256 the server gave")
)

// DownloadOptions bound a package download.
type DownloadOptions struct {
	// MaxBytes is the largest package accepted.
	MaxBytes int64
	// Timeout bounds the whole download.
	Timeout time.Duration
	// SHA256 is the expected hex hash ("" checks nothing).
	SHA256 string
	// Reserved are file names the package may not take (the scripts that
	// run next to it); such a package is renamed.
	Reserved []string
}

type packageRequest struct {
	OrbitNodeKey string `json:"orbit_node_key"`
	InstallerID  uint   `json:"installer_id"`
}

// DownloadPackage streams an installer into dir (which the caller made
// private) and returns its path. The file is named after the server's
// Content-Disposition, reduced to a safe base name.
func (c *Client) DownloadPackage(ctx context.Context, installerID uint, dir string, opts DownloadOptions) (string, error) {
	var want []byte
	if opts.SHA256 != "" {
		h, err := hex.DecodeString(opts.SHA256)
		if err != nil || len(h) != sha256.Size {
			return "", fmt.Errorf("%w: the server's sha256 %q is not a hex SHA-256", ErrPackageHash, shorten(opts.SHA256, 80))
		}
		want = h
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	r := request{
		method: http.MethodPost, path: PathSoftwareInstallPackage,
		query: url.Values{"alt": {"media"}}, in: packageRequest{c.getNodeKey(), installerID},
	}
	resp, err := c.send(ctx, c.download, r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	c.setServerCaps(resp.Header)
	if resp.ContentLength > opts.MaxBytes {
		return "", fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrPackageTooLarge, resp.ContentLength, opts.MaxBytes)
	}
	name := packageFileName(resp.Header.Get("Content-Disposition"))
	for _, r := range opts.Reserved {
		if name == r {
			name = "package-" + name
		}
	}
	dst := filepath.Join(dir, name)
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create package file: %w", err)
	}
	h := sha256.New()
	n, copyErr := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, opts.MaxBytes+1))
	closeErr := f.Close()
	switch {
	case copyErr != nil:
		err = fmt.Errorf("download package: %w", redactURLError(copyErr))
	case n > opts.MaxBytes:
		err = fmt.Errorf("%w: over %d bytes", ErrPackageTooLarge, opts.MaxBytes)
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		err = fmt.Errorf("download package: got %d of %d bytes", n, resp.ContentLength)
	case closeErr != nil:
		err = fmt.Errorf("write package file: %w", closeErr)
	case want != nil && !bytes.Equal(h.Sum(nil), want):
		err = fmt.Errorf("%w: got %s", ErrPackageHash, hex.EncodeToString(h.Sum(nil)))
	}
	if err != nil {
		os.Remove(dst)
		return "", err
	}
	return dst, nil
}

// maxPackageName bounds the package's file name (most file systems allow
// 255 bytes).
const maxPackageName = 200

// packageFileName takes the file name of a Content-Disposition header and
// keeps it only if it is a plain base name: the server's word must not
// choose a path. Fleet sends attachment;filename="<name>" without escaping,
// so a name with a quote is read up to the end of the header.
func packageFileName(cd string) string {
	name := ""
	if _, params, err := mime.ParseMediaType(cd); err == nil {
		name = params["filename"]
	} else if _, v, ok := strings.Cut(cd, "filename="); ok {
		name = strings.Trim(strings.TrimSpace(v), `"`)
	}
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "" || name == "." || name == ".." || name == "/" || len(name) > maxPackageName ||
		strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == ':' }) >= 0 {
		return "installer"
	}
	return name
}
