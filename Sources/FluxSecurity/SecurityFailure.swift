import Vapor

/// A request refused by a FluxSecurity control. It carries a stable `code` (`csrf_failed`, `rate_limited`,
/// `invalid_input`, …) and, for validation, the invalid `fields`, so an application's error middleware can
/// render it in its own envelope. As an `AbortError` it also renders sensibly in a plain Vapor app. The
/// `reason` is written for the client and never carries the refused value.
public struct SecurityFailure: AbortError, Sendable {
    public let status: HTTPResponseStatus
    public let code: String
    public let reason: String
    public let headers: HTTPHeaders
    public let fields: [String: String]?

    /// A refusal with `status`, a stable `code` and a human `reason`; `headers` go on the error response.
    public init(_ status: HTTPResponseStatus, code: String, reason: String, headers: HTTPHeaders = [:],
                fields: [String: String]? = nil) {
        self.status = status
        self.code = code
        self.reason = reason
        self.headers = headers
        self.fields = fields
    }
}
