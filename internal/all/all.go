// Package all links in every transport, metadata format and catalog kind;
// importing it for side effects is how the binary (and tests that need
// them) get the full registries.
package all

import (
	_ "github.com/syndicate-media/syndicate/internal/catalog/graphql"  // catalog kind graphql
	_ "github.com/syndicate-media/syndicate/internal/catalog/httpjson" // catalog kind http
	_ "github.com/syndicate-media/syndicate/internal/format/adi11"     // ADI.XML, CableLabs ADI 1.1
	_ "github.com/syndicate-media/syndicate/internal/format/csv"       // metadata.csv, YouTube-style
	_ "github.com/syndicate-media/syndicate/internal/format/json"      // metadata.json
	_ "github.com/syndicate-media/syndicate/internal/format/mrss"      // metadata.xml, Media RSS 1.5.1
	_ "github.com/syndicate-media/syndicate/internal/format/template"  // a partner's Go text/template
	_ "github.com/syndicate-media/syndicate/internal/transport/ftp"    // ftp://, ftps://
	_ "github.com/syndicate-media/syndicate/internal/transport/http"   // https://, http://
	_ "github.com/syndicate-media/syndicate/internal/transport/local"  // file://
	_ "github.com/syndicate-media/syndicate/internal/transport/s3"     // s3://
	_ "github.com/syndicate-media/syndicate/internal/transport/sftp"   // sftp://
)
