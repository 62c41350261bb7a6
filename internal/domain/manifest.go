package domain

// Manifest lists every file of a package with its size and checksum. It is
// delivered last, as manifest.json, so its arrival means the package is
// complete; partners verify each file against it.
type Manifest struct {
	DeliveryID   string `json:"delivery_id"`
	AssetID      string `json:"asset_id"`
	AssetVersion int    `json:"asset_version"`
	PartnerID    string `json:"partner_id"`
	Action       Action `json:"action"`
	// Scope is "metadata" when the package holds only the metadata document:
	// the files it describes were delivered earlier.
	Scope Scope          `json:"scope,omitempty"`
	Files []ManifestFile `json:"files"`
}

// ManifestFile is one file in a package. Name is relative to the package
// folder at the partner.
type ManifestFile struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Size   int64  `json:"size"`
	MD5    string `json:"md5,omitempty"`
	SHA256 string `json:"sha256"`
}

// TotalBytes is the sum of the files' sizes.
func (m Manifest) TotalBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}
