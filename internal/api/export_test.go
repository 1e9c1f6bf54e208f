package api

// RoutePatterns lists the API's routes as "METHOD /path", for the OpenAPI test.
func (s *Server) RoutePatterns() []string {
	var out []string
	for _, r := range s.apiRoutes() {
		out = append(out, r.method+" "+r.path)
	}
	return out
}

// LimitAddress is limitAddress, for its table test.
var LimitAddress = limitAddress
