@testable import FluxApp
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing
import Vapor

/// `ConnectionDeadlines` on its own, in an HTTP/1 pipeline shaped like Vapor's, on an event loop whose clock
/// the test moves; then `ConnectionAdmission` and the deadlines on a real Flux server's sockets.
@Suite struct ConnectionGuardTests {
    /// Answers each complete request at once with 200 `ok` (or 101, to stand for a WebSocket upgrade); with
    /// `answersAtHead`, as soon as the head arrives, as a route refusing an upload before reading it does.
    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let status: HTTPResponseStatus
        let answersAtHead: Bool
        /// Errors that reached the handler, as they reach Vapor's.
        var errors: [any Error] = []
        /// Body bytes handed to the handler.
        var bodyBytes = 0

        init(status: HTTPResponseStatus = .ok, answersAtHead: Bool = false) {
            self.status = status
            self.answersAtHead = answersAtHead
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            errors.append(error)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head where answersAtHead, .end where !answersAtHead:
                break
            case .body(let bytes):
                bodyBytes += bytes.readableBytes
                return
            default:
                return
            }
            var headers = HTTPHeaders()
            if status == .switchingProtocols {
                headers.add(name: "Upgrade", value: "websocket")
                headers.add(name: "Connection", value: "Upgrade")
            } else {
                headers.add(name: "Content-Length", value: "2")
            }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            if status != .switchingProtocols {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    static let limits: ConnectionLimits = {
        var limits = ConnectionLimits(descriptorLimit: 1_024)
        limits.headerTimeout = .seconds(30)
        limits.idleTimeout = .seconds(75)
        limits.bodyMinimumRate = 240
        return limits
    }()

    /// An active channel with NIO's HTTP/1 server handlers (as Vapor adds them), the guard, and `responder`.
    func guardedChannel(_ responder: Responder = Responder(), limits: ConnectionLimits = Self.limits) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            HTTPResponseEncoder(), ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
            HTTPServerPipelineHandler(), responder,
        ])
        try ConnectionDeadlines.install(on: channel, limits: limits, events: ConnectionEvents(metrics: nil, logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func send(_ text: String, to channel: EmbeddedChannel) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Everything the server has written so far, as text.
    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    func advance(_ channel: EmbeddedChannel, _ seconds: Int64) {
        channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
    }

    @Test func slowHeadersGet408AtTheHeaderDeadline() throws {
        // setup
        let channel = try guardedChannel()
        // MUT
        try send("GET /api/health HTTP/1.1\r\nHost: flux\r\n", to: channel)
        advance(channel, 29)
        // validate
        #expect(channel.isActive)
        #expect(try written(channel).isEmpty)
        advance(channel, 1)
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(answer.lowercased().contains("connection: close"))
        #expect(answer.hasSuffix(#"{"error":{"code":"request_timeout","message":"The request's headers did not arrive in time."}}"#))
        advance(channel, 2)
        #expect(!channel.isActive)
    }

    @Test func aHeaderByteEveryTwentySecondsDoesNotMoveTheDeadline() throws {
        let channel = try guardedChannel()
        try send("GET / HTTP/1.1\r\n", to: channel)
        advance(channel, 20)
        try send("X-A: 1\r\n", to: channel)
        advance(channel, 9)
        try send("X-B: 1\r\n", to: channel)
        #expect(try written(channel).isEmpty)
        advance(channel, 1)
        #expect(try written(channel).hasPrefix("HTTP/1.1 408"))
    }

    @Test func theHeaderClockStartsAtTheFirstByteNotAtConnect() throws {
        let channel = try guardedChannel()
        advance(channel, 70)
        try send("GET / HTTP/1.1\r\n", to: channel)
        advance(channel, 29)
        #expect(channel.isActive)
        advance(channel, 1)
        #expect(try written(channel).hasPrefix("HTTP/1.1 408"))
    }

    @Test func anIdleKeepAliveConnectionIsClosedSilently() throws {
        let channel = try guardedChannel()
        try send("GET / HTTP/1.1\r\nHost: flux\r\n\r\n", to: channel)
        #expect(try written(channel).hasPrefix("HTTP/1.1 200 OK"))
        advance(channel, 74)
        #expect(channel.isActive)
        advance(channel, 1)
        #expect(!channel.isActive)
        #expect(try written(channel).isEmpty)
    }

    @Test func aConnectionThatNeverSpeaksIsClosedAtTheIdleDeadline() throws {
        let channel = try guardedChannel()
        advance(channel, 74)
        #expect(channel.isActive)
        advance(channel, 1)
        #expect(!channel.isActive)
    }

    @Test func aDribblingBodyIsCutOffAfterTheGrace() throws {
        let responder = Responder()
        let channel = try guardedChannel(responder)
        try send("POST /upload HTTP/1.1\r\nHost: flux\r\nContent-Length: 100000\r\n\r\n", to: channel)
        channel.read()
        var seconds = 0
        while channel.isActive, seconds < 30 {
            try send(String(repeating: "a", count: 100), to: channel)
            channel.read()
            advance(channel, 1)
            seconds += 1
        }
        #expect(seconds == 5)
        #expect(try written(channel).hasPrefix("HTTP/1.1 408"))
        // The body's reader is told it was cut, so a partial body is never taken for a whole one.
        #expect(responder.errors.contains { $0 is ConnectionDeadlines.BodyTooSlow })
    }

    /// A request answered before its body is all sent (a refusal, a store gone down mid-upload): what the client
    /// still sends is dropped, not read into a request, and the connection ends after a moment's linger instead of
    /// waiting on a client that sends the whole body before reading.
    @Test func anAnswerBeforeTheBodyEndsClosesTheConnection() throws {
        let responder = Responder(status: .forbidden, answersAtHead: true)
        let channel = try guardedChannel(responder)
        try send("POST /upload HTTP/1.1\r\nHost: flux\r\nContent-Length: 100000\r\n\r\n", to: channel)
        channel.read()
        #expect(try written(channel).hasPrefix("HTTP/1.1 403"))
        try send(String(repeating: "a", count: 5000), to: channel)
        channel.read()
        #expect(responder.bodyBytes == 0)
        advance(channel, 3)
        #expect(!channel.isActive)
    }

    @Test func anHonestSlowBodyAboveTheRateCompletes() throws {
        let channel = try guardedChannel()
        let size = 400 * 60
        try send("POST /upload HTTP/1.1\r\nHost: flux\r\nContent-Length: \(size)\r\n\r\n", to: channel)
        channel.read()
        for _ in 0..<60 {
            #expect(try written(channel).isEmpty)
            advance(channel, 1)
            try send(String(repeating: "a", count: 400), to: channel)
            channel.read()
        }
        #expect(try written(channel).hasPrefix("HTTP/1.1 200 OK"))
        #expect(channel.isActive)
    }

    @Test func secondsTheServerWasNotReadingAreNotHeldAgainstTheClient() throws {
        let channel = try guardedChannel()
        try send("POST /upload HTTP/1.1\r\nHost: flux\r\nContent-Length: 100000\r\n\r\n", to: channel)
        // No read is asked for, as when a busy handler applies backpressure: the client cannot send.
        advance(channel, 60)
        #expect(channel.isActive)
        channel.read()
        advance(channel, 5)
        #expect(!channel.isActive)
    }

    @Test func anUpgradedConnectionOutlivesEveryHTTPDeadline() throws {
        let channel = try guardedChannel(Responder(status: .switchingProtocols))
        try send("GET /api/portal/realtime HTTP/1.1\r\nHost: flux\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", to: channel)
        #expect(try written(channel).hasPrefix("HTTP/1.1 101 Switching Protocols"))
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.context(handlerType: ConnectionDeadlines.self) }
        advance(channel, 600)
        #expect(channel.isActive)
    }

    @Test func oversizedHeadersGet431AndAClose() throws {
        let channel = try guardedChannel()
        try send("GET / HTTP/1.1\r\nHost: flux\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n", to: channel)
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(answer.contains(#""code":"headers_too_large""#))
        advance(channel, 2)
        #expect(!channel.isActive)
    }

    @Test func moreThanAHundredHeadersGet431() throws {
        let channel = try guardedChannel()
        let headers = (1...100).map { "X-\($0): v\r\n" }.joined()
        try send("GET / HTTP/1.1\r\n\(headers)\r\n", to: channel)
        #expect(try written(channel).hasPrefix("HTTP/1.1 200 OK"))
        try send("GET / HTTP/1.1\r\nHost: flux\r\n\(headers)\r\n", to: channel)
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(answer.contains("too many headers"))
    }

    @Test(arguments: [
        "GET /\r\nHost: flux\r\n\r\n", "GET / HTTP/1.1\r\nHost: fl\0ux\r\n\r\n", "GET / HTTP/1.1\r\nHost: flux\rX: y\r\n\r\n",
        "GARBAGE\r\n\r\n",
    ])
    func malformedRequestsGet400AndAClose(request: String) throws {
        let channel = try guardedChannel()
        try send(request, to: channel)
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        advance(channel, 2)
        #expect(!channel.isActive)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderBeforeTheRefusal() throws {
        let channel = try guardedChannel()
        let good = "GET / HTTP/1.1\r\nHost: flux\r\n\r\n"
        try send(String(repeating: good, count: 3) + "GET / HTTP/1.1\r\nHost: flux\r\nX: \0\r\n\r\n", to: channel)
        for _ in 0..<4 { channel.read() }
        let answer = try written(channel)
        #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 3)
        #expect(answer.contains("HTTP/1.1 400 Bad Request"))
        #expect(answer.range(of: "HTTP/1.1 400")!.lowerBound > answer.range(of: "HTTP/1.1 200", options: .backwards)!.lowerBound)
    }

    // MARK: On a real server

    @Test func vaporServerGetsTheGuard() async throws {
        try await withFlux(environment: ["HTTP_MAX_CONNECTIONS_PER_ADDRESS": "2", "HTTP_HEADER_TIMEOUT": "1"]) { app, _ in
            // setup
            try await app.server.start(address: .hostname("127.0.0.1", port: 0))
            let port = try #require(app.http.server.shared.localAddress?.port)
            let group = MultiThreadedEventLoopGroup.singleton
            func connect() async throws -> any Channel {
                try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
            }
            // MUT
            let first = try await connect()
            let second = try await connect()
            let third = try await connect()
            // validate: the third is past the cap and closed at once; the first two are kept.
            #expect(await closes(third, within: .seconds(10)))
            #expect(first.isActive && second.isActive)
            // The first gets its deadline: half a head, then a close after the 1 s deadline (with room for a
            // loaded machine).
            try await first.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
            #expect(await closes(first, within: .seconds(10)))
            // A place freed by a close is available again.
            let fourth = try await connect()
            try await Task.sleep(for: .milliseconds(200))
            #expect(fourth.isActive)
            try await second.close()
            try await fourth.close()
            await app.server.shutdown()
        }
    }

    /// Waits for the server to close `channel`, polling, so a missing guard fails instead of hanging.
    func closes(_ channel: any Channel, within limit: Duration) async -> Bool {
        let started = ContinuousClock.now
        while channel.isActive, ContinuousClock.now - started < limit {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return !channel.isActive
    }

    @Test func theConfigurationReadsAndChecksTheLimits() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        let base = ["FLUX_ENV": "testing", "DATA_DIR": directory]
        let defaults = try AppConfig.load(from: base).connections
        #expect(defaults.headerTimeout == .seconds(30) && defaults.idleTimeout == .seconds(75))
        #expect(defaults.bodyMinimumRate == 240 && defaults.perAddress == 1_024)
        #expect(defaults.total == defaults.descriptorLimit - ConnectionLimits.reserve(for: defaults.descriptorLimit))
        let set = try AppConfig.load(from: base.merging([
            "HTTP_HEADER_TIMEOUT": "5", "HTTP_IDLE_TIMEOUT": "9", "HTTP_BODY_MIN_RATE": "0", "HTTP_MAX_CONNECTIONS_PER_ADDRESS": "3",
            "HTTP_MAX_CONNECTIONS": "50",
        ]) { $1 }).connections
        #expect(set.headerTimeout == .seconds(5) && set.idleTimeout == .seconds(9) && set.bodyMinimumRate == 0)
        #expect(set.perAddress == 3 && set.total == 50)
        for (name, bad) in [("HTTP_HEADER_TIMEOUT", "0"), ("HTTP_IDLE_TIMEOUT", "soon"), ("HTTP_BODY_MIN_RATE", "-1"),
                            ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"), ("HTTP_MAX_CONNECTIONS", String(defaults.total + 1))] {
            #expect(throws: ConfigError.self, "\(name)=\(bad)") { try AppConfig.load(from: base.merging([name: bad]) { $1 }) }
        }
    }
}
