package fleet

import (
	"errors"
	"testing"
)

func TestValidateShebang(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		direct bool
		err    error
	}{
		{"echo no shebang", false, nil},
		{"", false, nil},
		{" #!/bin/bash\necho", false, nil}, // not a shebang: runs with sh
		{"#!/bin/sh\necho", true, nil},
		{"#!/bin/sh -e\necho", true, nil},
		{"#!/bin/sh  -eu -x\necho", true, nil},
		{"#! /bin/sh\necho", true, nil},
		{"#!/bin/zsh\necho", true, nil},
		{"#!/usr/bin/sh\necho", true, nil},
		{"#!/usr/bin/zsh -f\necho", true, nil},
		{"#!/bin/sh\r\necho", true, nil},
		{"#!/bin/sh", true, nil},
		{"#!/bin/sh\t\necho", true, nil},
		{"#!:/usr/bin/sh\necho", true, nil}, // Fleet's "(:?" typo, kept on purpose
		{"#!/bin/bash\necho", false, ErrUnsupportedInterpreter},
		{"#!/usr/bin/env sh\necho", false, ErrUnsupportedInterpreter},
		{"#!/bin/shx\necho", false, ErrUnsupportedInterpreter},
		{"#!/bin/sh-e\necho", false, ErrUnsupportedInterpreter},
		{"#!/usr/local/bin/zsh\necho", false, ErrUnsupportedInterpreter},
		{"#!/usr/bin/python3\nprint(1)", false, ErrUnsupportedInterpreter},
		{"#!\necho", false, ErrUnsupportedInterpreter},
	} {
		direct, err := ValidateShebang(tc.script)
		if direct != tc.direct || !errors.Is(err, tc.err) {
			t.Errorf("ValidateShebang(%q) = %v, %v; want %v, %v", tc.script, direct, err, tc.direct, tc.err)
		}
	}
	if got := ErrUnsupportedInterpreter.Error(); got != `Interpreter not supported. Shell scripts must run in "#!/bin/sh" or "#!/bin/zsh."` {
		t.Errorf("message %q is not Fleet's", got)
	}
}
