//go:build unix && !darwin

package desktop

func browserCommand(pageURL string) (string, []string) {
	return "xdg-open", []string{pageURL}
}
