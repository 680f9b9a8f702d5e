import FluxSecurity

/// NIST SP 800-63B: length (10 to 128 characters) and a breached-list check; no composition rules, which
/// push people toward predictable patterns without adding strength.
enum PasswordPolicy {
    static let minimumLength = 10
    static let maximumLength = 128

    /// Adds the reason `password` is refused to `errors` under `field`.
    static func check(_ password: String, field: String = "password", into errors: inout FieldErrors) {
        let length = password.count
        errors.check(field, length >= minimumLength, "must be at least \(minimumLength) characters")
        errors.check(field, length <= maximumLength, "must be at most \(maximumLength) characters")
        errors.check(field, !CommonPasswords.contains(password), "is too common: it appears in lists of breached passwords")
    }
}

/// An email address as Flux stores and compares it: RFC 5321 shape, trimmed and lowercased, so one person
/// cannot hold two accounts that differ only in case.
enum EmailAddress {
    static func normalized(_ raw: String) -> String? {
        Sanitize.email(raw)?.lowercased()
    }
}
