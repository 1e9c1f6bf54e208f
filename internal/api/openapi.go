package api

import (
	_ "embed"
	"net/http"
)

// openAPI describes the API; TestOpenAPIDocumentsEveryRoute keeps it in step with the
// routes.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
