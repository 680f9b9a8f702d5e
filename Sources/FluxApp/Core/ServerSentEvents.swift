import Foundation
import NIOCore
import Vapor

/// Server-sent events (`text/event-stream`), as FluxAI's streamed answers and HQ's live figures send them.
enum ServerSentEvents {
    static let mediaType = HTTPMediaType(type: "text", subType: "event-stream")

    /// One event: its name and `value` as one line of JSON.
    static func frame(_ name: String, _ value: some Encodable) -> ByteBuffer {
        let json = (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ByteBuffer(string: "event: \(name)\ndata: \(json)\n\n")
    }
}
