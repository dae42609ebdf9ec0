package kds

import "embed"

// Web holds the browser kitchen display: web/kds.html and the files it loads
// from /kds/assets/.
//
//go:embed web
var Web embed.FS
