import Fluent
import Foundation
import Vapor

/// Who may see a conversation and its messages: a client sees their organization's channels and the direct
/// conversations they are in; staff who handle client data see every organization's. What the caller may
/// not see answers 404, as if it did not exist. The messaging controller, the realtime hub, the pages and
/// the data exports all ask here.
enum ThreadAccess {
    static let notFound = AppError.notFound("No such conversation.")

    /// The thread named by the path, if the caller may see it (another tenant's looks like nothing at all).
    static func thread(_ request: Request, _ principal: Principal) async throws -> ChatThread {
        guard let id = request.parameters.get("threadID", as: UUID.self), let thread = try await ChatThread.find(id, on: request.db),
            try await canSee(thread, principal, on: request.db)
        else { throw notFound }
        return thread
    }

    static func canSee(_ thread: ChatThread, _ principal: Principal, on database: any Database) async throws -> Bool {
        if principal.role.isStaff { return Role.clientDataStaff.contains(principal.role) }
        guard thread.tenantID == principal.tenantID else { return false }
        if thread.kind == .channel { return true }
        return try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).filter(\.$userID == principal.userID).first() != nil
    }

    /// The caller's membership, made on first use of a channel (or, for staff, of any thread they answer in).
    static func member(of thread: ChatThread, _ principal: Principal, on database: any Database) async throws -> ChatMember {
        if let existing = try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).filter(\.$userID == principal.userID).first() {
            return existing
        }
        let member = ChatMember(threadID: thread.id!, userID: principal.userID, now: Date())
        do {
            try await member.create(on: database)
        } catch where (error as? any DatabaseError)?.isConstraintFailure == true {
            // A parallel request of the same person joined first.
            if let joined = try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).filter(\.$userID == principal.userID).first() {
                return joined
            }
            throw error
        }
        return member
    }

    /// The message named by the path, if the caller may see its conversation.
    static func message(_ request: Request, _ principal: Principal) async throws -> (ChatMessage, ChatThread) {
        guard let id = request.parameters.get("messageID", as: UUID.self), let message = try await ChatMessage.find(id, on: request.db),
            let thread = try await ChatThread.find(message.threadID, on: request.db), try await canSee(thread, principal, on: request.db)
        else { throw AppError.notFound("No such message.") }
        return (message, thread)
    }
}
