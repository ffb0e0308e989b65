package desktop

// browserCommand uses url.dll's handler, not "cmd /c start": cmd would
// parse the URL's & and ^ as shell syntax.
func browserCommand(pageURL string) (string, []string) {
	return "rundll32", []string{"url.dll,FileProtocolHandler", pageURL}
}
