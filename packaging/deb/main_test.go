package deb

import (
	"os"
	"testing"

	"github.com/orbitagent/orbit/packaging/internal/linuxtest"
)

func TestMain(m *testing.M) { os.Exit(linuxtest.Main(m)) }
