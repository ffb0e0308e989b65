package fleettest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/orbitagent/orbit/fleettest"
)

// Example shows the usual test setup: start, enroll through the real wire
// protocol, then assert on the recorded calls.
func Example() {
	srv := fleettest.New(fleettest.Config{EnrollSecrets: []string{"s3cret"}, TLS: true})
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	client := srv.Client() // trusts srv.CACertFile()
	req, _ := http.NewRequest("POST", srv.URL()+"/api/fleet/orbit/enroll",
		strings.NewReader(`{"enroll_secret":"s3cret","hardware_uuid":"A-1"}`))
	req.Header.Set(fleettest.CapabilitiesHeader, "orbit_endpoints")
	res, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()

	fmt.Println(res.StatusCode, res.Header.Get(fleettest.CapabilitiesHeader))
	call := srv.CallsMatching(fleettest.CallFilter{Path: "/api/fleet/orbit/enroll"})[0]
	fmt.Println(call.Status, call.Capabilities, call.Body["hardware_uuid"])
	fmt.Println(len(srv.OrbitHosts()))
	// Output:
	// 200 orbit_endpoints,token_rotation,end_user_email,escrow_buddy,linux_disk_encryption_escrow,luks_recovery_key_escrow,setup_experience,web_setup_experience,macos_web_setup_experience
	// 200 orbit_endpoints A-1
	// 1
}
