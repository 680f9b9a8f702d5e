import FluentPostgresDriver
import FluxSecurity
import Vapor

/// Turns every error into the JSON envelope with the right status: 404 and 405 from routing, 413 from body
/// limits, 400 for malformed JSON, and 500 for anything unexpected, whose details stay in the server log
/// (and reach the client only in development).
// An AsyncMiddleware on purpose, as is RequestTelemetryMiddleware: made future-based, both ran on the event
// loops, the plain route gained a fifth, and /api/health's p99 during bench/auth.sh's login flood rose from
// 21 to 28-29 ms, because the flood's refusals were then rendered on the loops that answer health checks.
struct JSONErrorMiddleware: AsyncMiddleware {
    let environment: AppConfig.Environment
    let methods: AllowedMethodsIndex

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        do {
            return try await next.respond(to: request)
        } catch {
            let appError = translate(error, for: request)
            if appError.shed {
                // Expected under a flood, where an error line per refusal, with the error printed by reflection,
                // was about a sixth of the server's time spent refusing (perf during bench/auth.sh's login flood).
                request.logger.warning("request shed", metadata: ["code": .string(appError.code)])
            } else if appError.status.code >= 500 {
                request.logger.error("request failed", metadata: [
                    "code": .string(appError.code), "error": .string(String(reflecting: error)),
                ])
            } else {
                var metadata: Logger.Metadata = ["code": .string(appError.code), "status": .stringConvertible(appError.status.code)]
                // Field names only: the values are the client's input and may be personal or hostile.
                if let fields = appError.fields {
                    metadata["fields"] = .array(fields.keys.sorted().map { .string($0) })
                    request.logger.warning("input rejected", metadata: metadata)
                } else {
                    request.logger.info("request rejected", metadata: metadata)
                }
            }
            return try render(appError)
        }
    }

    private func translate(_ error: any Error, for request: Request) -> AppError {
        switch error {
        case let error as AppError:
            return error
        case let error as SecurityFailure:
            return AppError(error.status, code: error.code, message: error.reason, fields: error.fields, headers: error.headers)
        case let error as BlobStoreError:
            return error.answer
        case let error as ValidationsError:
            return translate(FieldErrors(error).failure, for: request)
        case is RouteNotFound:
            let allowed = methods.methods(for: request.url.path)
            guard !allowed.isEmpty else {
                return AppError.notFound("No resource at this path.")
            }
            return AppError(.methodNotAllowed, code: "method_not_allowed",
                            message: "This path does not accept \(request.method.rawValue).",
                            headers: ["Allow": allowed.sorted().joined(separator: ", ")])
        case let error as DecodingError:
            return translate(error)
        case let error as PSQLError where error.serverInfo?[.sqlState] == "22021":
            // character_not_in_repertoire: text PostgreSQL cannot hold (NUL) that no input check caught; the
            // client's text, so a 400, and the statement (and its transaction) changed nothing.
            return AppError(.badRequest, code: "invalid_text", message: "The request holds a character that cannot be stored (such as NUL).")
        case let error as any AbortError where error.status.code < 500:
            return AppError(error.status, code: Self.code(for: error.status), message: error.reason, headers: error.headers)
        case let error as any AbortError:
            return AppError(error.status, code: Self.code(for: error.status), message: internalMessage(error),
                            headers: error.headers)
        default:
            return AppError(.internalServerError, code: "internal_error", message: internalMessage(error))
        }
    }

    /// Server-side failures are explained to the client only in development; elsewhere the details
    /// (SQL, paths, driver messages) stay in the log.
    private func internalMessage(_ error: any Error) -> String {
        environment == .development
            ? "An internal error occurred: \(String(reflecting: error))"
            : "An internal error occurred."
    }

    private func translate(_ error: DecodingError) -> AppError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return AppError(.badRequest, code: "malformed_json", message: "The request body is not valid JSON.")
        case .keyNotFound(let key, let context):
            return AppError(.badRequest, code: "invalid_body", message: "A required field is missing.",
                            fields: [path(context.codingPath + [key]): "is required"])
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return AppError(.badRequest, code: "invalid_body", message: "A field has the wrong type or format.",
                            fields: [path(context.codingPath): "has the wrong type or format"])
        @unknown default:
            return AppError(.badRequest, code: "invalid_body", message: "The request body could not be read.")
        }
    }

    private static func code(for status: HTTPResponseStatus) -> String {
        switch status {
        case .badRequest: "bad_request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .payloadTooLarge: "payload_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .unprocessableEntity: "unprocessable_entity"
        case .tooManyRequests: "rate_limited"
        case .internalServerError: "internal_error"
        case .serviceUnavailable: "unavailable"
        default: "http_\(status.code)"
        }
    }

    private func render(_ error: AppError) throws -> Response {
        let response = Response(status: error.status, headers: error.headers)
        try response.content.encode(ErrorEnvelope(error: .init(code: error.code, message: error.message, fields: error.fields)))
        return response
    }
}
