import Vapor

/// An error a client is meant to see: status, a stable machine-readable code, a human message and,
/// for bad input, the offending fields. Rendered as `{"error":{"code","message","fields"?}}`.
public struct AppError: Error, Sendable {
    public let status: HTTPResponseStatus
    public let code: String
    public let message: String
    public let fields: [String: String]?
    public let headers: HTTPHeaders
    /// Refused on purpose to shed load (the client should retry later): logged as a warning, not as a failure,
    /// since under a flood every such refusal is expected.
    public let shed: Bool

    public init(_ status: HTTPResponseStatus, code: String, message: String, fields: [String: String]? = nil,
                headers: HTTPHeaders = [:], shed: Bool = false) {
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers
        self.shed = shed
    }
}

extension AppError {
    /// 404 `not_found`: the thing does not exist, or the caller may not know it does.
    static func notFound(_ message: String) -> AppError {
        AppError(.notFound, code: "not_found", message: message)
    }

    /// 400 `invalid_input`, with the offending fields and what is wrong with each.
    static func invalidInput(_ message: String, fields: [String: String]? = nil) -> AppError {
        AppError(.badRequest, code: "invalid_input", message: message, fields: fields)
    }

    /// 400 `invalid_input` for fields that are each wrong, with what is wrong with each.
    static func invalidFields(_ fields: [String: String]) -> AppError {
        invalidInput("Some fields are invalid.", fields: fields)
    }

    /// 403 `forbidden`: signed in, but not allowed to do this.
    static func forbidden(_ message: String) -> AppError {
        AppError(.forbidden, code: "forbidden", message: message)
    }
}

/// The JSON body of every error response.
struct ErrorEnvelope: Content {
    struct Body: Codable {
        let code: String
        let message: String
        let fields: [String: String]?
    }

    let error: Body
}
