import Fluent
import Foundation

/// How a person wants to be mailed about unread messages; no row means ``Digest/immediately``.
final class NotificationSetting: Model, @unchecked Sendable {
    static let schema = "notification_settings"

    enum Digest: String, Codable, Sendable, CaseIterable {
        /// A mail per conversation once its messages have waited unread a few minutes (``UnreadMail/delay``).
        case immediately
        /// At most one batch of mails a day.
        case daily
        case never
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Enum(key: "digest") var digest: Digest
    /// When the last daily batch went out.
    @OptionalField(key: "last_digest_at") var lastDigestAt: Date?

    init() {}
}
