package msi

import (
	"encoding/xml"
)

// The WiX source we hand to wixl: only elements wixl 0.101 implements and
// does not crash on. Attributes with an empty value are omitted (wixl fails
// on an empty Property value, and an empty attribute means nothing anyway).

type wxsRoot struct {
	XMLName xml.Name   `xml:"Wix"`
	NS      string     `xml:"xmlns,attr"`
	Product wxsProduct `xml:"Product"`
}

type wxsProduct struct {
	ID           string `xml:"Id,attr"`
	Name         string `xml:"Name,attr"`
	Language     string `xml:"Language,attr"`
	Version      string `xml:"Version,attr"`
	Manufacturer string `xml:"Manufacturer,attr"`
	UpgradeCode  string `xml:"UpgradeCode,attr"`

	Package    wxsPackage    `xml:"Package"`
	Upgrade    wxsUpgrade    `xml:"Upgrade"`
	Sequence   wxsSequence   `xml:"InstallExecuteSequence"`
	Properties []wxsProperty `xml:"Property"`
	Media      wxsMedia      `xml:"Media"`
	Directory  wxsDirectory  `xml:"Directory"`
	Feature    wxsFeature    `xml:"Feature"`
}

type wxsPackage struct {
	Description      string `xml:"Description,attr,omitempty"`
	Comments         string `xml:"Comments,attr,omitempty"`
	Manufacturer     string `xml:"Manufacturer,attr,omitempty"`
	Keywords         string `xml:"Keywords,attr,omitempty"`
	InstallerVersion string `xml:"InstallerVersion,attr"`
	Compressed       string `xml:"Compressed,attr"`
	InstallScope     string `xml:"InstallScope,attr"`
	Languages        string `xml:"Languages,attr"`
}

// wxsUpgrade is the Upgrade table written by hand instead of MajorUpgrade:
// wixl drops AllowDowngrades, and MajorUpgrade's defaults neither replace
// another build of the same version nor allow a downgrade. One row finds
// every installed product of this UpgradeCode (any version) and
// RemoveExistingProducts removes it before this one installs.
type wxsUpgrade struct {
	ID      string            `xml:"Id,attr"`
	Version wxsUpgradeVersion `xml:"UpgradeVersion"`
}

type wxsUpgradeVersion struct {
	Minimum        string `xml:"Minimum,attr"`
	IncludeMinimum string `xml:"IncludeMinimum,attr"`
	Property       string `xml:"Property,attr"`
}

type wxsSequence struct {
	RemoveExistingProducts wxsAction `xml:"RemoveExistingProducts"`
}

type wxsAction struct {
	After string `xml:"After,attr"`
}

type wxsProperty struct {
	ID    string `xml:"Id,attr"`
	Value string `xml:"Value,attr"`
}

type wxsMedia struct {
	ID       string `xml:"Id,attr"`
	Cabinet  string `xml:"Cabinet,attr"`
	EmbedCab string `xml:"EmbedCab,attr"`
}

type wxsDirectory struct {
	ID          string         `xml:"Id,attr"`
	Name        string         `xml:"Name,attr,omitempty"`
	Components  []wxsComponent `xml:"Component"`
	Directories []wxsDirectory `xml:"Directory"`
}

type wxsComponent struct {
	ID           string             `xml:"Id,attr"`
	GUID         string             `xml:"Guid,attr"`
	Win64        string             `xml:"Win64,attr"`
	File         *wxsFile           `xml:"File"`
	CreateFolder *struct{}          `xml:"CreateFolder"`
	Service      *wxsServiceInstall `xml:"ServiceInstall"`
	Control      *wxsServiceControl `xml:"ServiceControl"`
}

type wxsFile struct {
	ID      string `xml:"Id,attr"`
	Name    string `xml:"Name,attr"`
	Source  string `xml:"Source,attr"`
	KeyPath string `xml:"KeyPath,attr"`
}

type wxsServiceInstall struct {
	ID           string `xml:"Id,attr"`
	Name         string `xml:"Name,attr"`
	DisplayName  string `xml:"DisplayName,attr,omitempty"`
	Description  string `xml:"Description,attr,omitempty"`
	Type         string `xml:"Type,attr"`
	Start        string `xml:"Start,attr"`
	ErrorControl string `xml:"ErrorControl,attr"`
	Account      string `xml:"Account,attr"`
	Arguments    string `xml:"Arguments,attr,omitempty"`
	Vital        string `xml:"Vital,attr"`
}

type wxsServiceControl struct {
	ID     string `xml:"Id,attr"`
	Name   string `xml:"Name,attr"`
	Start  string `xml:"Start,attr"`
	Stop   string `xml:"Stop,attr"`
	Remove string `xml:"Remove,attr"`
	Wait   string `xml:"Wait,attr"`
}

type wxsFeature struct {
	ID      string            `xml:"Id,attr"`
	Title   string            `xml:"Title,attr,omitempty"`
	Level   string            `xml:"Level,attr"`
	Display string            `xml:"Display,attr"`
	Refs    []wxsComponentRef `xml:"ComponentRef"`
}

type wxsComponentRef struct {
	ID string `xml:"Id,attr"`
}

func (w *wxsRoot) marshal() ([]byte, error) {
	b, err := xml.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
