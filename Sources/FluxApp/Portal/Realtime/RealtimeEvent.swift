import Foundation
import NIOCore
import SQLKit

/// One real-time event: its number, its conversation and the frame every subscriber receives, encoded once.
///
/// Numbers are the `realtime_events` row ids, and they are handed out in commit order (SQLite has one writer;
/// on PostgreSQL each publication holds a transaction-scoped advisory lock from its insert to its commit), so
/// "everything after N" is a complete answer: a client that reconnects with the last number it saw misses nothing.
struct RealtimeEvent: Sendable {
    enum Kind: String, Sendable {
        case messageCreated = "message.created"
        case messageEdited = "message.edited"
        case messageDeleted = "message.deleted"
        case messageRead = "message.read"
        case typing
    }

    let id: Int64
    let threadID: UUID
    let frame: ByteBuffer

    /// `type` is a ``Kind`` name and `data` JSON this process encoded, so plain concatenation makes valid JSON.
    init(id: Int64, threadID: UUID, type: String, at: Date, data: String) {
        self.id = id
        self.threadID = threadID
        frame = ByteBuffer(string: #"{"at":"\#(at.formatted(.iso8601))","data":\#(data),"id":\#(id),"threadId":"\#(threadID.uuidString)","type":"\#(type)"}"#)
    }

    init(id: Int64, threadID: UUID, frame: ByteBuffer) {
        self.id = id
        self.threadID = threadID
        self.frame = frame
    }

    struct Row: Decodable {
        let id: Int64
        let thread_id: UUID
        let type: String
        let data: String
        let created_at: Date
    }

    init(_ row: Row) {
        self.init(id: row.id, threadID: row.thread_id, type: row.type, at: row.created_at, data: row.data)
    }

    /// What a PostgreSQL notice carries: the event itself when it fits in NOTIFY's 8000 bytes, else only its
    /// number (listeners then read it from the table).
    var notice: String {
        frame.readableBytes < 7_500 ? "\(id) \(threadID.uuidString) \(String(buffer: frame))" : "\(id)"
    }
}
