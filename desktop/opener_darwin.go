package desktop

func browserCommand(pageURL string) (string, []string) {
	return "open", []string{pageURL}
}
