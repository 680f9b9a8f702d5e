import Fluent
import NIOConcurrencyHelpers
import Foundation
import SQLKit
import Vapor

/// A message waiting for delivery (or delivered), written in the same transaction as the event that causes
/// it, so an SMTP outage or a crash between the two loses nothing.
final class OutboxMessage: Model, @unchecked Sendable {
    static let schema = "outbox_messages"

    @ID(key: .id) var id: UUID?
    @Field(key: "kind") var kind: String
    @Field(key: "recipient") var recipient: String
    /// The ``MailMessage`` as JSON.
    @Field(key: "payload") var payload: String
    /// pending, sent, or failed (gave up after ``Outbox/maximumAttempts``).
    @Field(key: "status") var status: String
    @Field(key: "attempts") var attempts: Int
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "next_attempt_at") var nextAttemptAt: Date
    @OptionalField(key: "claimed_until") var claimedUntil: Date?
    @OptionalField(key: "sent_at") var sentAt: Date?
    @OptionalField(key: "last_error") var lastError: String?

    init() {}
}
