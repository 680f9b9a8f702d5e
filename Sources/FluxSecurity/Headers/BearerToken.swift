import Vapor

extension HTTPHeaders {
    /// The token of an `Authorization: Bearer …` header, read as Vapor's `bearerAuthorization` reads it (split
    /// at spaces, two parts, the scheme in any case); `nil` for any other scheme or shape. It says nothing of
    /// whether the token is valid.
    // Split as bytes rather than Characters: Vapor's split showed in profiles of signed-in requests.
    public var bearerToken: String? {
        guard let value = first(name: .authorization) else { return nil }
        let parts = value.utf8.split(separator: UInt8(ascii: " "))
        guard parts.count == 2, String(decoding: parts[0], as: UTF8.self).lowercased() == "bearer" else { return nil }
        return String(decoding: parts[1], as: UTF8.self)
    }
}
