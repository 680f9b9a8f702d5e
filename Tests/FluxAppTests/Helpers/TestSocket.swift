@testable import FluxApp
import Foundation
import NIOConcurrencyHelpers
import Testing
import Vapor

/// A real WebSocket client of `/api/portal/realtime` that keeps every frame it receives.
final class TestSocket: Sendable {
    let socket: WebSocket
    private let received: NIOLockedValueBox<[String]>
    private let cursor = NIOLockedValueBox(0)

    private init(socket: WebSocket, received: NIOLockedValueBox<[String]>) {
        self.socket = socket
        self.received = received
    }

    static func connect(port: Int, headers: HTTPHeaders, on app: Application) async throws -> TestSocket {
        let received = NIOLockedValueBox<[String]>([])
        let opened = NIOLockedValueBox<WebSocket?>(nil)
        try await WebSocket.connect(to: "ws://127.0.0.1:\(port)/api/portal/realtime", headers: headers, on: app.eventLoopGroup) { socket in
            socket.onText { _, text in received.withLockedValue { $0.append(text) } }
            opened.withLockedValue { $0 = socket }
        }
        // `connect` may return before the upgrade callback has run.
        for _ in 0..<500 where opened.withLockedValue({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
        let socket = try #require(opened.withLockedValue { $0 })
        return TestSocket(socket: socket, received: received)
    }

    func send(_ command: [String: Any]) throws {
        socket.send(String(decoding: try JSONSerialization.data(withJSONObject: command), as: UTF8.self))
    }

    /// Subscribes and waits for the `subscribed` answer.
    @discardableResult
    func subscribe(_ threads: [UUID], after: Int64? = nil) async throws -> [String: Any] {
        var command: [String: Any] = ["type": "subscribe", "threadIds": threads.map(\.uuidString)]
        if let after { command["after"] = after }
        try send(command)
        return try await next { $0["type"] as? String == "subscribed" || $0["type"] as? String == "error" }
    }

    /// The next frame (after those already taken) that `matches`, waiting up to `timeout`.
    func next(timeout: Duration = .seconds(10), _ matches: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let frames = received.withLockedValue { $0 }
            let start = cursor.withLockedValue { $0 }
            for index in start..<frames.count {
                let frame = try JSONSerialization.jsonObject(with: Data(frames[index].utf8)) as! [String: Any]
                if matches(frame) {
                    cursor.withLockedValue { $0 = index + 1 }
                    return frame
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("no matching frame within \(timeout); received: \(received.withLockedValue { $0 }.suffix(5))")
        throw CancellationError()
    }

    /// The next event of `type`.
    func event(_ type: String, timeout: Duration = .seconds(10)) async throws -> [String: Any] {
        try await next(timeout: timeout) { $0["type"] as? String == type && $0["id"] != nil }
    }

    /// Waits for a `presence` event that lists `user` as `status`.
    func presence(of user: UUID, _ status: String) async throws {
        _ = try await next { frame in
            frame["type"] as? String == "presence" && ((frame.data["changes"] as? [[String: Any]]) ?? []).contains {
                $0["userId"] as? String == user.uuidString && $0["status"] as? String == status
            }
        }
    }

    /// How many frames have arrived, without parsing them.
    var count: Int { received.withLockedValue { $0.count } }

    /// Every frame received so far, parsed.
    var frames: [[String: Any]] {
        received.withLockedValue { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func close() async {
        try? await socket.close(code: .normalClosure).get()
    }
}

/// Runs `body` with `app`'s HTTP server on a free loopback port, and stops the server after it.
func serving(_ app: Application, _ body: (Int) async throws -> Void) async throws {
    app.http.server.configuration.hostname = "127.0.0.1"
    app.http.server.configuration.port = 0
    try app.server.start()
    do {
        try await body(try #require(app.http.server.shared.localAddress?.port))
    } catch {
        await app.server.shutdown()
        throw error
    }
    await app.server.shutdown()
}

/// `count` requests at once against a server started by ``serving(_:_:)`` on `port`: `POST path` with a JSON
/// body and the headers `prepare` gives request `index`. Answers in completion order.
func concurrently(_ app: Application, port: Int, count: Int, _ path: String,
                  prepare: @escaping @Sendable (Int) -> (HTTPHeaders, [String: String])) async throws -> [ClientResponse] {
    try await withThrowingTaskGroup(of: ClientResponse.self) { group in
        for index in 0..<count {
            group.addTask {
                let (headers, body) = prepare(index)
                return try await app.client.post(URI(string: "http://127.0.0.1:\(port)\(path)"), headers: headers) { request in
                    try request.content.encode(body)
                }
            }
        }
        return try await group.reduce(into: []) { $0.append($1) }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `data`, the event's payload.
    var data: [String: Any] { self["data"] as? [String: Any] ?? [:] }
}
