import Foundation

/// An S3-compatible bucket for stored files (FILES_S3_BUCKET, FILES_S3_ENDPOINT, FILES_S3_REGION,
/// FILES_S3_ACCESS_KEY_ID, FILES_S3_SECRET_ACCESS_KEY, FILES_S3_PATH_STYLE).
public struct S3Settings: Sendable {
    /// Scheme, host and port of the service: AWS's regional endpoint unless FILES_S3_ENDPOINT names another.
    public var endpoint: URL
    public var bucket: String
    public var region: String
    public var accessKeyID: String
    public var secretAccessKey: SecretValue
    /// `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`: what most self-hosted stores
    /// (SeaweedFS, MinIO, Garage) expect.
    public var pathStyle: Bool

    /// A bucket name S3 accepts (3 to 63 lowercase letters, digits, `.` and `-`), so it is safe in a host
    /// name and a path.
    static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }
            && name.first!.isLetterOrDigit && name.last!.isLetterOrDigit
    }
}

private extension Character {
    var isLetterOrDigit: Bool { isLetter || isNumber }
}
