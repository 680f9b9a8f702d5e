import Vapor

extension Response {
    /// Changes the headers in place. Vapor's `headers` is a locked get and set, so `response.headers.add(…)`
    /// copies the whole list before adding to it; taking the list out first leaves it uniquely owned.
    package func updateHeaders(_ change: (inout HTTPHeaders) -> Void) {
        var headers = self.headers
        self.headers = HTTPHeaders()
        // Room, from the first change on, for what FluxSecurity's middlewares and the server add (about 16
        // fields), so the list is not regrown by each middleware in turn.
        headers.reserveCapacity(Swift.max(headers.count + 8, 24))
        change(&headers)
        self.headers = headers
    }
}
