package pkg

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/orbitagent/orbit/packaging"
)

// PackageInfo of the component package, with the attributes pkgbuild
// writes. Reference: Apple's flat package notes, as summarised at
// http://s.sudre.free.fr/Stuff/Ivanhoe/FLAT.html.
type pkgInfo struct {
	XMLName         xml.Name    `xml:"pkg-info"`
	FormatVersion   string      `xml:"format-version,attr"`
	Identifier      string      `xml:"identifier,attr"`
	Version         string      `xml:"version,attr"`
	InstallLocation string      `xml:"install-location,attr"`
	Auth            string      `xml:"auth,attr"`
	Payload         pkgPayload  `xml:"payload"`
	Scripts         *pkgScripts `xml:"scripts,omitempty"`
	BundleVersion   struct{}    `xml:"bundle-version"`
}

type pkgPayload struct {
	NumberOfFiles int   `xml:"numberOfFiles,attr"`
	InstallKBytes int64 `xml:"installKBytes,attr"`
}

type pkgScripts struct {
	PreInstall  *scriptRef `xml:"preinstall,omitempty"`
	PostInstall *scriptRef `xml:"postinstall,omitempty"`
}

type scriptRef struct {
	File string `xml:"file,attr"`
}

func packageInfo(p *packaging.Package, scripts []entry, files int, kbytes int64) ([]byte, error) {
	info := pkgInfo{
		FormatVersion: "2", Identifier: p.Identifier, Version: p.Version,
		InstallLocation: "/", Auth: "root",
		Payload: pkgPayload{NumberOfFiles: files, InstallKBytes: kbytes},
	}
	for _, s := range scripts {
		name, ok := strings.CutPrefix(s.path, "./")
		if !ok {
			continue
		}
		if info.Scripts == nil {
			info.Scripts = &pkgScripts{}
		}
		ref := &scriptRef{File: s.path}
		switch name {
		case "preinstall":
			info.Scripts.PreInstall = ref
		case "postinstall":
			info.Scripts.PostInstall = ref
		}
	}
	return marshal(info)
}

// The Distribution (product definition). Reference: Apple's Distribution
// Definition XML Schema Reference.
type distDoc struct {
	XMLName        xml.Name    `xml:"installer-gui-script"`
	MinSpecVersion string      `xml:"minSpecVersion,attr"`
	Title          string      `xml:"title"`
	Options        distOptions `xml:"options"`
	Domains        distDomains `xml:"domains"`
	VolumeCheck    struct {
		AllowedOSVersions struct {
			OSVersion struct {
				Min string `xml:"min,attr"`
			} `xml:"os-version"`
		} `xml:"allowed-os-versions"`
	} `xml:"volume-check"`
	ChoicesOutline struct {
		Line distLine `xml:"line"`
	} `xml:"choices-outline"`
	Choices []distChoice `xml:"choice"`
	PkgRef  distPkgRef   `xml:"pkg-ref"`
}

type distOptions struct {
	Customize         string `xml:"customize,attr"`
	RequireScripts    string `xml:"require-scripts,attr"`
	HostArchitectures string `xml:"hostArchitectures,attr"`
}

type distDomains struct {
	EnableAnywhere        string `xml:"enable_anywhere,attr"`
	EnableCurrentUserHome string `xml:"enable_currentUserHome,attr"`
	EnableLocalSystem     string `xml:"enable_localSystem,attr"`
}

type distLine struct {
	Choice string     `xml:"choice,attr"`
	Lines  []distLine `xml:"line"`
}

type distChoice struct {
	ID      string      `xml:"id,attr"`
	Visible string      `xml:"visible,attr,omitempty"`
	Title   string      `xml:"title,attr,omitempty"`
	PkgRefs []distPkgID `xml:"pkg-ref"`
}

type distPkgID struct {
	ID string `xml:"id,attr"`
}

type distPkgRef struct {
	ID            string `xml:"id,attr"`
	Version       string `xml:"version,attr"`
	InstallKBytes int64  `xml:"installKBytes,attr"`
	Auth          string `xml:"auth,attr"`
	OnConclusion  string `xml:"onConclusion,attr"`
	Href          string `xml:",chardata"`
}

func distribution(p *packaging.Package, arch, minOS string, kbytes int64) ([]byte, error) {
	d := distDoc{
		MinSpecVersion: "2",
		Title:          p.Name,
		// A system agent: no customisation, installed on the boot volume
		// only, for the architecture its binaries are built for (an
		// x86_64 package on Apple silicon asks for Rosetta, which its
		// binaries need there).
		Options: distOptions{Customize: "never", RequireScripts: "false", HostArchitectures: arch},
		Domains: distDomains{EnableAnywhere: "false", EnableCurrentUserHome: "false", EnableLocalSystem: "true"},
		Choices: []distChoice{
			{ID: "default"},
			{ID: p.Identifier, Visible: "false", Title: p.Name, PkgRefs: []distPkgID{{ID: p.Identifier}}},
		},
		PkgRef: distPkgRef{
			ID: p.Identifier, Version: p.Version, InstallKBytes: kbytes,
			Auth: "root", OnConclusion: "none", Href: "#" + p.Name + ".pkg",
		},
	}
	d.VolumeCheck.AllowedOSVersions.OSVersion.Min = minOS
	d.ChoicesOutline.Line = distLine{Choice: "default", Lines: []distLine{{Choice: p.Identifier}}}
	return marshal(d)
}

func marshal(v any) ([]byte, error) {
	b, err := xml.MarshalIndent(v, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("pkg: encode XML: %w", err)
	}
	out := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	out = append(out, b...)
	return append(out, '\n'), nil
}
