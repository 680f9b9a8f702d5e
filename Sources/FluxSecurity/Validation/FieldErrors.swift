import Vapor

/// Collects every invalid field of one input, then throws them together as `400 invalid_input` with
/// `fields` naming each (the message describes the rule, never echoes the value).
///
///     var errors = FieldErrors()
///     errors.check("name", name.count <= 120, "must be at most 120 characters")
///     try errors.throwIfAny()
///
/// It only collects verdicts: each check is the caller's, and nothing is sanitized.
public struct FieldErrors: Sendable {
    /// Each invalid field's message.
    public private(set) var fields: [String: String] = [:]

    /// No errors yet.
    public init() {}

    /// The fields Vapor's `Validatable` rejected, so both styles end in the same answer.
    public init(_ error: ValidationsError) {
        for failure in error.failures where failure.result.isFailure {
            add(failure.key.description, failure.customFailureDescription ?? failure.result.failureDescription ?? "is invalid")
        }
    }

    /// Records `message` for `field` unless `condition` holds; the first message per field wins.
    public mutating func check(_ field: String, _ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition, fields[field] == nil { fields[field] = message() }
    }

    /// Records `message` for `field`; the first message per field wins.
    public mutating func add(_ field: String, _ message: String) {
        if fields[field] == nil { fields[field] = message }
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// Throws ``failure`` when any field was recorded.
    public func throwIfAny() throws(SecurityFailure) {
        guard !fields.isEmpty else { return }
        throw failure
    }

    /// The `400 invalid_input` these fields make.
    public var failure: SecurityFailure {
        SecurityFailure(.badRequest, code: "invalid_input", reason: "Some fields are invalid.", fields: fields)
    }
}
