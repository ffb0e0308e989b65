package supervisor

import (
	"fmt"
	"strings"
	"text/template"
)

// renderServiceTemplate renders one of kardianos/service's templates (its
// language is a subset of text/template in which a bare name is a lookup)
// the way kardianos would: funcs maps each name to a function returning
// the value kardianos would look up, and its pipeline functions to theirs.
// what names the file in errors ("systemd unit").
func renderServiceTemplate(what, script string, funcs template.FuncMap) (string, error) {
	t, err := template.New(what).Funcs(funcs).Parse(script)
	if err != nil {
		return "", fmt.Errorf("%s: parse the template: %w", what, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("%s: render the template: %w", what, err)
	}
	return b.String(), nil
}
