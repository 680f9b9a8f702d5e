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

extension EventLoopFuture where Value == Response {
    /// This future, with `change` run on its response when it succeeds. The response is a reference and
    /// callbacks run in the order they were added, so a middleware further out still sees the change.
    /// Measured in-process, 0.13–0.17 µs less per middleware than `map`, which makes a new future and promise
    /// each time (the allocation count stays the same: the future's callback list grows instead).
    package func changingResponse(_ change: @escaping @Sendable (Response) -> Void) -> EventLoopFuture<Response> {
        whenSuccess(change)
        return self
    }
}

/// Constant header fields appended in one step. `HTTPHeaders.add(name:value:)` checks each name byte by byte
/// on every call, a check constant ASCII names do not need (NIO validates every field again before it is
/// sent). A mask of name lengths tells, in one pass over a response's fields, whether it may already hold
/// one of them: a response's own fields seldom share a length with these.
struct HeaderBlock: Sendable {
    let fields: HTTPHeaders
    /// Bit n is set when a field of the block, or one of the other names given, has an n-byte name (bit 63
    /// for 63 bytes or more).
    private let nameLengths: UInt64

    init(_ fields: [(String, String)], alsoNaming otherNames: [String] = []) {
        self.fields = HTTPHeaders(fields)
        nameLengths = (fields.map(\.0) + otherNames).reduce(0) { $0 | 1 << Swift.min($1.utf8.count, 63) }
    }

    /// False when no field of `headers` has one of the block's names or the other names; true may be a
    /// false alarm, never a miss.
    func mayOverlap(_ headers: HTTPHeaders) -> Bool {
        headers.contains { nameLengths & 1 << Swift.min($0.name.utf8.count, 63) != 0 }
    }
}
