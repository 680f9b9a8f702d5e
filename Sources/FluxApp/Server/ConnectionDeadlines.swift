import Logging
import NIOCore
import NIOHTTP1

/// The deadlines of one HTTP/1 connection, which Vapor has no setting for: the request line and headers
/// within `headerTimeout` of their first byte (else 408 and close), no more than `idleTimeout` without a
/// request in progress (close), and a request body no slower than `bodyMinimumRate` averaged over the last
/// `bodyRateWindow` seconds once `bodyRateGrace` has passed (else 408 and close). Also answers what NIO's
/// HTTP parser refuses (oversized or malformed heads) with a 4xx and a close instead of a silent reset.
///
/// Threat: slowloris and slow-POST clients, and idle keep-alive connections, each hold a descriptor for as
/// long as they like; a few thousand exhaust the process. Vapor's own idle timeout is not enough: a header
/// byte every 20 s keeps a connection "busy" forever.
///
/// It sits right after NIO's `HTTPRequestDecoder`, so it sees request parts arrive and response parts leave;
/// `ConnectionDeadlines.ByteTap` at the front of the pipeline tells it when raw bytes arrive (the first byte
/// of a head, the pace of a body) and whether the server is reading at all: time the server spends not
/// reading (a busy handler applying backpressure) is never held against the client. After a WebSocket
/// upgrade it steps aside: sockets have their own ping rule.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Why a connection was closed or refused, as counted in /metrics.
    enum Reason: String, Sendable {
        case headerTimeout = "header_timeout"
        case idleTimeout = "idle_timeout"
        case bodyRate = "body_rate"
        case badRequest = "bad_request"
    }

    enum Phase {
        /// Waiting for a request; no byte of it yet.
        case idle
        /// Bytes of a request head have arrived; the head is not complete.
        case head
        /// The head is complete; its body is arriving.
        case body
        /// The request is complete; the response is being produced or written (no deadline: the server's turn).
        case answering
        /// Upgraded to another protocol, which keeps its own rules.
        case upgraded
        /// A refusal or deadline close is under way.
        case closing
    }

    let limits: ConnectionLimits
    let events: ConnectionEvents
    var context: ChannelHandlerContext?
    var phase = Phase.idle
    var deadline: Scheduled<Void>?
    var rateCheck: RepeatedTask?
    /// Requests whose response has not been completely written (pipelining allows several).
    var unanswered = 0
    /// The response to the oldest unanswered request has started, so a refusal can no longer be written.
    var responseStarted = false
    /// Bytes of another request arrived while a response was being produced.
    var bytesWaiting = false
    /// The server has asked for data and not yet received it: only then is a slow client the client's fault.
    var reading = false
    var bodyStarted = NIODeadline.uptimeNanoseconds(0)
    var bodyBytesThisSecond = 0
    /// Bytes per second of the current body, newest last, for the seconds the server was reading.
    var bodySamples: [Int] = []
    var refusal: (status: HTTPResponseStatus, code: String, message: String)?

    init(limits: ConnectionLimits, events: ConnectionEvents) {
        self.limits = limits
        self.events = events
    }

    /// Adds the guard to a channel whose HTTP/1 pipeline Vapor (or a test) has built.
    static func install(on channel: any Channel, limits: ConnectionLimits, events: ConnectionEvents) throws {
        let pipeline = channel.pipeline.syncOperations
        let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
        let deadlines = ConnectionDeadlines(limits: limits, events: events)
        try pipeline.addHandler(deadlines, position: .after(decoder.handler))
        try pipeline.addHandler(ByteTap(deadlines: deadlines), position: .first)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { awaitRequest() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        awaitRequest()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        phase = .closing
        context.fireChannelInactive()
    }

    // MARK: What ByteTap reports

    func bytesArrived(_ count: Int) {
        reading = false
        switch phase {
        case .idle:
            phase = .head
            schedule(after: limits.headerTimeout, .headerTimeout)
        case .body:
            bodyBytesThisSecond += count
        case .answering:
            bytesWaiting = true
        case .head, .upgraded, .closing:
            break
        }
    }

    func readRequested() {
        reading = true
    }

    /// Bytes that arrive after a refusal are read and dropped, so the kernel does not answer them with a
    /// reset that would destroy the refusal before the client reads it.
    var discardsInput: Bool { phase == .closing }

    // MARK: Request parts in, response parts out

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .upgraded else { return context.fireChannelRead(data) }
        // After a refusal nothing more is handed to Vapor: what follows a bad request is not trusted.
        guard phase != .closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head) where head.version.major != 1:
            // Without a version the parser reads HTTP/0.9, which has no headers and no status line to answer.
            return refuseMalformed(.badRequest, code: "bad_request", message: Self.malformed, detail: "HTTP version \(head.version)")
        case .head(let head) where head.headers.count > Self.maximumHeaderCount:
            return refuseMalformed(.requestHeaderFieldsTooLarge, code: "headers_too_large", message: "The request has too many headers.",
                                   detail: "\(head.headers.count) header fields")
        case .head:
            unanswered += 1
            bytesWaiting = false
            phase = .body
            cancelDeadline()
            startBodyRate()
        case .body:
            break
        case .end:
            stopBodyRate()
            phase = .answering
            if unanswered == 0 { awaitRequest() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard phase != .upgraded else { return context.write(data, promise: promise) }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status == .switchingProtocols:
            phase = .upgraded
            cancelTimers()
            context.write(data, promise: promise)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        case .head(let head) where head.status.code < 200:
            break
        case .head:
            responseStarted = true
        case .body:
            break
        case .end:
            responseStarted = false
            unanswered = max(0, unanswered - 1)
            if unanswered == 0 {
                if let refusal {
                    context.write(data, promise: promise)
                    return refuse(refusal.status, code: refusal.code, message: refusal.message)
                }
                if phase == .answering { awaitRequest() }
                // Answered before its body was all sent (a refusal, a store gone down mid-upload): the rest is not
                // read into a request, and the connection ends after a linger, as nginx's lingering close does, instead
                // of stalling a client that sends its whole body before reading.
                if phase == .body {
                    phase = .closing
                    cancelTimers()
                    context.writeAndFlush(data, promise: promise)
                    return closeAfterLinger()
                }
            }
        }
        context.write(data, promise: promise)
    }

    /// NIO's parser refuses oversized heads (80 KiB), bad request lines, NUL or bare CR in a header; Vapor
    /// would close without a word. The client gets a 4xx and the refusal is logged once.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        // Already refused: the rest of what the client sent is not worth a second answer or log line.
        guard phase != .closing else { return }
        let tooLarge = parserError == .headerOverflow
        let detail = String(describing: parserError)
        if phase == .body {
            // A body stream is open in Vapor: it must see the failure, or a cut body would read as complete.
            report(.badRequest, code: "bad_request", detail: detail)
            if !responseStarted { writeRefusal(.badRequest, code: "bad_request", message: Self.malformed, context: context) }
            phase = .closing
            cancelTimers()
            return context.fireErrorCaught(error)
        }
        if tooLarge {
            refuseMalformed(.requestHeaderFieldsTooLarge, code: "headers_too_large", message: "The request's headers are too large.", detail: detail)
        } else {
            refuseMalformed(.badRequest, code: "bad_request", message: Self.malformed, detail: detail)
        }
    }

    private static let malformed = "The request is not valid HTTP/1.1."
    /// Kestrel's limit. NIO bounds the bytes of a head (80 KiB) but accepts 65,534 fields, and every
    /// header lookup on the way through the middleware walks them all.
    static let maximumHeaderCount = 100

    func report(_ status: HTTPResponseStatus, code: String, detail: String) {
        events.logger.notice("request refused", metadata: [
            "status": .stringConvertible(status.code), "code": .string(code), "error": .string(detail),
        ])
        events.closed(.badRequest)
    }

    func refuseMalformed(_ status: HTTPResponseStatus, code: String, message: String, detail: String) {
        report(status, code: code, detail: detail)
        if unanswered > 0 {
            // Pipelined requests before the bad one are answered first, in order.
            refusal = (status, code, message)
            phase = .closing
            cancelTimers()
        } else {
            refuse(status, code: code, message: message)
        }
    }

    // MARK: Closing

    func refuse(_ status: HTTPResponseStatus, code: String, message: String) {
        guard let context else { return }
        phase = .closing
        cancelTimers()
        writeRefusal(status, code: code, message: message, context: context)
        closeAfterLinger()
    }

    func writeRefusal(_ status: HTTPResponseStatus, code: String, message: String, context: ChannelHandlerContext) {
        // The same envelope as every other error; code and message are fixed strings with nothing to escape.
        let body = context.channel.allocator.buffer(string: #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#)
        let headers = HTTPHeaders([
            ("Content-Type", "application/json; charset=utf-8"), ("Content-Length", String(body.readableBytes)),
            ("Connection", "close"), ("Cache-Control", "no-store"),
        ])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Sends FIN after the refusal and drops what the client still sends for a moment, then closes: closing
    /// with unread input would send a reset that can destroy the refusal in flight.
    func closeAfterLinger() {
        guard let context else { return }
        let channel = context.channel
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in channel.close(promise: nil) }
        context.close(mode: .output, promise: promise)
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }

    func close() {
        phase = .closing
        cancelTimers()
        context?.close(promise: nil)
    }
}
