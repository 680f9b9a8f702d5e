import Vapor

extension Response {
    /// Changes the headers in place. Vapor's `headers` is a locked get and set, so `response.headers.add(…)`
    /// copies the whole list before adding to it; taking the list out first leaves it uniquely owned.
    package func updateHeaders(_ change: (inout HTTPHeaders) -> Void) {
        var headers = self.headers
        self.headers = HTTPHeaders()
        change(&headers)
        self.headers = headers
    }
}
