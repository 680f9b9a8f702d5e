import Crypto
import Foundation

/// AWS Signature Version 4 (header form) over swift-crypto's HMAC-SHA256 and SHA-256: the canonical request,
/// the string to sign and the derived signing key, as the AWS SigV4 test suite specifies them. Only what an
/// S3 client needs: paths are encoded once (S3 does not normalize them), query parameters and headers are
/// sorted, header values trimmed.
struct SignatureV4: Sendable {
    let accessKeyID: String
    let secretAccessKey: SecretValue
    let region: String
    let service: String

    /// SHA-256 of an empty payload, the hash every bodiless request signs.
    static let emptyPayloadHash = SHA256.hash(data: Data()).hexString

    static func timestamp(_ date: Date) -> String {
        formatted(date, "yyyyMMdd'T'HHmmss'Z'")
    }

    private static func formatted(_ date: Date, _ pattern: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = pattern
        return formatter.string(from: date)
    }

    /// RFC 3986 unreserved characters stay; everything else is percent-encoded, `/` too unless `keepSlash`.
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        if keepSlash { allowed.insert("/") }
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The `Authorization` header for a request with these parts. `path` is already encoded; `query` holds
    /// raw names and values; `headers` are the ones to sign (they must include `host` and `x-amz-date`).
    func authorization(method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String,
                       date: Date) -> String {
        let canonical = canonicalRequest(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let day = Self.formatted(date, "yyyyMMdd")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let requestHash: String = SHA256.hash(data: Data(canonical.request.utf8)).hexString
        let toSign = ["AWS4-HMAC-SHA256", Self.timestamp(date), scope, requestHash].joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(secretAccessKey.value)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Data(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key)).hexString
        return "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
    }

    func canonicalRequest(method: String, path: String, query: [(String, String)], headers: [(String, String)],
                          payloadHash: String) -> (request: String, signedHeaders: String) {
        let encoded: [(name: String, value: String)] = query.map { (Self.encode($0.0), Self.encode($0.1)) }
        let sorted = encoded.sorted { (a, b) -> Bool in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery = sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let squeezed = value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(squeezed)
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalPath = path.isEmpty ? "/" : path
        let parts: [String] = [method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash]
        let request = parts.joined(separator: "\n")
        return (request, signedHeaders)
    }
}
