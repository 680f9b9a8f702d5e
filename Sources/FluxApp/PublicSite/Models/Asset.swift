import Fluent
import Foundation

/// A public upload: stored in the ``BlobStore`` under `uploads/<id>`, never by the name the client gave.
final class Asset: Model, @unchecked Sendable {
    static let schema = "assets"

    @ID(key: .id) var id: UUID?
    @Field(key: "sha256") var sha256: String
    @Field(key: "size") var size: Int64
    /// Detected from the content, never taken from the client.
    @Field(key: "content_type") var contentType: String
    /// Sanitized (`Sanitize.filename`), for the download name only.
    @Field(key: "original_name") var originalName: String
    @Field(key: "uploader_ip_hash") var uploaderIPHash: String
    @Field(key: "created_at") var createdAt: Date
    /// The consultation ticket it was sent with; unattached uploads are collected (``UploadHousekeeping``).
    @OptionalField(key: "signal_id") var signalID: UUID?

    init() {}
}
