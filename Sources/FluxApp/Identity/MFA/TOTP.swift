import Crypto
import FluxSecurity
import Foundation

/// RFC 6238 time-based one-time passwords as authenticator apps compute them: HMAC-SHA-1, 30-second steps,
/// 6 digits. SHA-1 is what every app supports; the HMAC construction keeps it sound for this use.
enum TOTP {
    static let period: TimeInterval = 30
    static let digits = 6

    /// The time step `date` falls in.
    static func step(at date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / period).rounded(.down))
    }

    /// The code for `step` (RFC 4226 dynamic truncation), zero-padded to `digits`.
    static func code(secret: [UInt8], step: Int64, digits: Int = digits) -> String {
        let counter = withUnsafeBytes(of: UInt64(step).bigEndian) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: counter, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    /// The step within ±1 of `date` whose code is `code`, or `nil`. The caller refuses a step it has seen
    /// used already, so a code observed once cannot be replayed.
    static func matchingStep(_ code: String, secret: [UInt8], at date: Date) -> Int64? {
        guard code.count == digits, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) else { return nil }
        let now = step(at: date)
        for candidate in [now - 1, now, now + 1]
        where ConstantTimeComparison.equals(Self.code(secret: secret, step: candidate), code) {
            return candidate
        }
        return nil
    }

    /// `otpauth://` URI for authenticator apps (Key Uri Format).
    static func provisioningURI(secret: [UInt8], account: String, issuer: String) -> String {
        var components = URLComponents()
        components.scheme = "otpauth"
        components.host = "totp"
        components.path = "/\(issuer):\(account)"
        components.queryItems = [
            URLQueryItem(name: "secret", value: Base32.encode(secret)),
            URLQueryItem(name: "issuer", value: issuer),
            URLQueryItem(name: "algorithm", value: "SHA1"),
            URLQueryItem(name: "digits", value: String(digits)),
            URLQueryItem(name: "period", value: String(Int(period))),
        ]
        return components.string!
    }
}

/// RFC 4648 base32 without padding, as authenticator apps expect secrets.
enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output = [UInt8]()
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                output.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { output.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: output, as: UTF8.self)
    }
}
