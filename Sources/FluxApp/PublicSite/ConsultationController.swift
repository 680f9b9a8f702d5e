import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `POST /api/consultation`: the public site's consultation form. CSRF double-submit (the root group), 5
/// a minute per address, every field validated; a valid request becomes an OperationsSignal ticket and, in
/// the same transaction, a notification for NOTIFY_EMAIL in the outbox.
struct ConsultationController: Sendable {
    let security: Hardening
    let notify: MailAddress?

    struct Body: Content {
        let name: String
        let company: String
        let email: String
        let phone: String?
        let message: String?
        let timeframe: String?
        let preferredContact: String
        let conversationInsights: [String]?
        let suggestedTopics: [String]?
        let pageUrl: String?
        let referrerUrl: String?
        let sessionId: String?
        /// Public uploads (``UploadController``) sent with the request: kept with the ticket.
        let assetIds: [UUID]?
    }

    struct Created: Content {
        let ticketId: UUID
    }

    static let maximumListItems = 20
    static let maximumAttachments = 10

    /// The ticket `body` asks for, with the uploads it names; every field checked, each problem reported beside its field.
    static func signal(from body: Body, now: Date) throws -> (OperationsSignal, assetIDs: [UUID]) {
        var errors = FieldErrors()
        let name = TextInput.line(body.name)
        errors.check("name", (1...120).contains(name.count), "is required, at most 120 characters")
        let company = TextInput.line(body.company)
        errors.check("company", (1...160).contains(company.count), "is required, at most 160 characters")
        let email = body.email.utf8.count <= 254 ? Sanitize.email(body.email) : nil
        errors.check("email", email != nil, "must be an email address (RFC 5321, at most 254 characters)")
        let phone = body.phone.flatMap { $0.isEmpty ? nil : $0 }
        let normalizedPhone = phone.flatMap(Sanitize.phone)
        errors.check("phone", phone == nil || normalizedPhone != nil, "must be a phone number (7 to 15 digits, optionally with +)")
        errors.check("message", (body.message ?? "").count <= 5000, "must be at most 5000 characters")
        errors.check("timeframe", (body.timeframe ?? "").count <= 100, "must be at most 100 characters")
        let preferred = OperationsSignal.PreferredContact(rawValue: body.preferredContact)
        errors.check("preferredContact", preferred != nil, "must be one of email, phone, whatsapp")
        if preferred == .phone || preferred == .whatsapp {
            errors.check("phone", normalizedPhone != nil, "is required when the preferred contact is \(body.preferredContact)")
        }
        let insights = body.conversationInsights ?? []
        errors.check("conversationInsights", insights.count <= Self.maximumListItems && insights.allSatisfy { (1...500).contains($0.count) },
                     "must be at most \(Self.maximumListItems) items of 1 to 500 characters")
        let topics = body.suggestedTopics ?? []
        errors.check("suggestedTopics", topics.count <= Self.maximumListItems && topics.allSatisfy { (1...200).contains($0.count) },
                     "must be at most \(Self.maximumListItems) items of 1 to 200 characters")
        let pageURL = body.pageUrl.map { Sanitize.url($0, schemes: ["http", "https"]) }
        errors.check("pageUrl", pageURL != .some(nil), "must be an http(s) URL")
        let referrerURL = body.referrerUrl.map { Sanitize.url($0, schemes: ["http", "https"]) }
        errors.check("referrerUrl", referrerURL != .some(nil), "must be an http(s) URL")
        let sessionID = body.sessionId
        errors.check("sessionId", sessionID.map(TextInput.isToken) ?? true,
                     "must be 1 to 100 letters, digits, - or _")
        let assetIDs = Array(Set(body.assetIds ?? []))
        errors.check("assetIds", assetIDs.count <= Self.maximumAttachments, "at most \(Self.maximumAttachments) uploads")
        try errors.throwIfAny()

        let signal = OperationsSignal()
        signal.id = UUID()
        signal.status = .new
        signal.name = name
        signal.company = company
        signal.email = email!
        signal.phone = normalizedPhone
        signal.message = body.message.map(TextInput.multiline)
        signal.timeframe = body.timeframe.map { TextInput.line($0) }
        signal.preferredContact = preferred!
        signal.conversationInsights = String(decoding: try JSONEncoder().encode(insights.map { TextInput.line($0) }), as: UTF8.self)
        signal.suggestedTopics = String(decoding: try JSONEncoder().encode(topics.map { TextInput.line($0) }), as: UTF8.self)
        signal.pageURL = pageURL ?? nil
        signal.referrerURL = referrerURL ?? nil
        signal.sessionID = sessionID
        signal.createdAt = now
        signal.updatedAt = now
        return (signal, assetIDs)
    }

    @Sendable func create(_ request: Request) async throws -> Response {
        let now = Date()
        let (signal, assetIDs) = try Self.signal(from: try request.content.decode(Body.self), now: now)
        signal.ipHash = security.clientAddressHash(request)
        let notify = notify
        // The visitor's last chat turns may still be queued: write them so the conversation is there to link.
        await request.application.conversationRecorder.flush(on: request.db, logger: request.logger)
        try await request.db.writeTransaction { transaction in
            try await signal.create(on: transaction)
            if !assetIDs.isEmpty {
                let attached = try await transaction.sql.raw("""
                    UPDATE assets SET signal_id = \(bind: signal.id!)
                    WHERE id IN (\(SQLList(assetIDs.map { SQLBind($0) }))) AND signal_id IS NULL
                    RETURNING id
                    """).all()
                guard attached.count == assetIDs.count else {
                    throw AppError.invalidFields(["assetIds": "must name uploads made for this request"])
                }
            }
            // The chat that led here becomes a consultation, linked both ways (ticket → sessionId → conversation).
            if let sessionID = signal.sessionID,
                let conversation = try await AiConversation.query(on: transaction).filter(\.$sessionID == sessionID).first() {
                conversation.outcome = .consultation
                conversation.signalID = signal.id
                conversation.closedAt = now
                try await conversation.update(on: transaction)
            }
            if let notify {
                try await Outbox.enqueue(MailTemplates.consultation(to: notify, signal: signal), kind: "consultation", on: transaction)
            }
        }
        request.logger.info("consultation received", metadata: ["ticket_id": .string(signal.id!.uuidString)])
        return try await Created(ticketId: signal.id!).encodeResponse(status: .created, for: request)
    }
}
