import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how to reach the mail server, from SMTP_URL: `smtp://` requires STARTTLS (a server that does
/// not offer it is refused, never spoken to in clear), `smtps://` is TLS from the first byte. Certificates
/// are verified against the system roots, or the PEM file SMTP_CA_FILE names (a private relay), and must
/// name the host: a DNS name among their DNS names, an IP address among their IP addresses.
public struct SMTPSettings: Sendable {
    public enum Security: Sendable {
        case startTLS, implicitTLS
    }

    public let host: String
    public let port: Int
    public let security: Security
    public let username: String?
    public let password: SecretValue?
    public let caFile: String?

    /// The name sent as SNI and checked against the certificate's DNS names; `nil` for an IP address, which
    /// SNI cannot carry (NIOSSL refuses it) and which NIOSSL then checks against the certificate's IP
    /// addresses, as the address it connected to.
    var tlsServerName: String? {
        (try? SocketAddress(ipAddress: host, port: port)) == nil ? host : nil
    }

    /// `nil` unless `url` is `smtp://` or `smtps://` with a host.
    init?(url: String, caFile: String?) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
            let scheme = components.scheme?.lowercased(), ["smtp", "smtps"].contains(scheme)
        else { return nil }
        // An IPv6 literal is written in brackets in a URL but connected to without them.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        security = scheme == "smtps" ? .implicitTLS : .startTLS
        port = components.port ?? (scheme == "smtps" ? 465 : 587)
        username = components.user?.removingPercentEncoding
        password = components.password?.removingPercentEncoding.map(SecretValue.init)
        self.caFile = caFile
    }
}

/// An SMTP client on SwiftNIO and swift-nio-ssl: EHLO, STARTTLS or implicit TLS, AUTH PLAIN or LOGIN
/// (whichever the server offers, PLAIN first), one message per connection, 30 s for the whole exchange.
struct SMTPMailClient: MailClient {
    let settings: SMTPSettings
    let group: any EventLoopGroup
    let heloName: String
    var timeout: Duration = .seconds(30)

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func send(_ message: MailMessage, from: MailAddress, messageID: String) async throws {
        try await withSession { session, tls in
            try await handshake(session, tls: tls)
            try await session.expect(250, after: "MAIL FROM:<\(from.address)>")
            try await session.expect([250, 251], after: "RCPT TO:<\(message.to.address)>")
            try await session.expect(354, after: "DATA")
            let body = MIME.render(message, from: from, messageID: messageID, date: Date())
                .split(separator: "\r\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(".") ? "." + $0 : String($0) }  // dot-stuffing (RFC 5321 4.5.2)
                .joined(separator: "\r\n")
            try await session.expect(250, after: body + "\r\n.")
            _ = try? await session.expect(221, after: "QUIT")
        }
    }

    /// Connects, secures and authenticates as a delivery would, then quits: what `flux doctor` checks.
    func probe() async throws {
        try await withSession { session, tls in
            try await handshake(session, tls: tls)
            _ = try? await session.expect(221, after: "QUIT")
        }
    }

    /// One connection, bounded to ``timeout`` in all (a server that stops answering cannot hold a delivery
    /// or `flux doctor` longer), closed whatever happens.
    private func withSession(_ body: @escaping @Sendable (SMTPSession, NIOSSLContext) async throws -> Void) async throws {
        let tls = try makeTLSContext()
        let handler = SMTPReplyHandler()
        let implicit = settings.security == .implicitTLS
        let serverName = settings.tlsServerName
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicit {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: settings.host, port: settings.port).get()
        let session = SMTPSession(channel: channel, handler: handler)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await body(session, tls) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    // Closing fails the reply the exchange waits for; an event-loop future ignores cancellation.
                    channel.close(promise: nil)
                    throw Failure(description: "the SMTP exchange took longer than \(timeout)")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            try? await channel.close()
            throw error
        }
        try? await channel.close()
    }

    /// Greeting, EHLO, STARTTLS (required for smtp://) and AUTH when credentials are configured.
    private func handshake(_ session: SMTPSession, tls: NIOSSLContext) async throws {
        try await session.expect(220, after: nil)
        var features = try await session.expect(250, after: "EHLO \(heloName)")
        if settings.security == .startTLS {
            guard features.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                throw Failure(description: "the server does not offer STARTTLS; refusing to send in clear")
            }
            try await session.expect(220, after: "STARTTLS")
            try await session.startTLS(tls, serverName: settings.tlsServerName)
            features = try await session.expect(250, after: "EHLO \(heloName)")
        }
        if let username = settings.username, let password = settings.password?.value {
            let mechanisms = features.first { $0.uppercased().hasPrefix("AUTH") }?.uppercased().split(separator: " ") ?? []
            if mechanisms.contains("PLAIN") {
                let credentials = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
                try await session.expect(235, after: "AUTH PLAIN \(credentials)", secret: true)
            } else if mechanisms.contains("LOGIN") {
                try await session.expect(334, after: "AUTH LOGIN")
                try await session.expect(334, after: Data(username.utf8).base64EncodedString(), secret: true)
                try await session.expect(235, after: Data(password.utf8).base64EncodedString(), secret: true)
            } else {
                throw Failure(description: "the server offers neither AUTH PLAIN nor AUTH LOGIN")
            }
        }
    }

    private func makeTLSContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile = settings.caFile {
            configuration.trustRoots = .file(caFile)
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// One SMTP connection: write a command, wait for its (possibly multi-line) reply.
private struct SMTPSession: Sendable {
    let channel: any Channel
    let handler: SMTPReplyHandler

    /// Sends `command` (unless `nil`: the greeting) and returns the reply's text lines when its code is one
    /// of `codes`. With `secret`, a failure does not quote the command.
    @discardableResult
    func expect(_ codes: Set<Int>, after command: String?, secret: Bool = false) async throws -> [String] {
        let reply: EventLoopFuture<SMTPReply> = channel.eventLoop.flatSubmit { [handler, channel] in
            let next = handler.nextReply(on: channel.eventLoop)
            if let command {
                channel.writeAndFlush(channel.allocator.buffer(string: command + "\r\n"), promise: nil)
            }
            return next
        }
        let answer = try await reply.get()
        guard codes.contains(answer.code) else {
            let sent = secret ? "(credentials)" : String((command ?? "greeting").prefix(20))
            throw SMTPMailClient.Failure(description: "SMTP \(sent) answered \(answer.code) \(answer.lines.last ?? "")")
        }
        return answer.lines
    }

    @discardableResult
    func expect(_ code: Int, after command: String?, secret: Bool = false) async throws -> [String] {
        try await expect([code], after: command, secret: secret)
    }

    /// Puts TLS under the conversation once the server has said 220 to STARTTLS, and forgets every byte that
    /// came before it unencrypted (RFC 3207, 4.2): a server, or anyone on the path, that sent more after the
    /// 220 would otherwise have its plaintext taken as the replies to the encrypted commands (STARTTLS
    /// command injection). Both happen in one event-loop task, so no byte falls between them.
    func startTLS(_ tls: NIOSSLContext, serverName: String?) async throws {
        try await channel.eventLoop.submit { [handler, channel] in
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName), position: .first)
            handler.discardReceived()
        }.get()
    }
}

struct SMTPReply: Sendable {
    let code: Int
    let lines: [String]
}

/// Splits the server's bytes into replies (`250-…` continues one, `250 …` ends it) and hands each to the
/// oldest waiting request. Runs on the channel's event loop only.
private final class SMTPReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var pending = ""
    private var lines: [String] = []
    private var waiting: [EventLoopPromise<SMTPReply>] = []
    private var ready: [SMTPReply] = []
    private var failure: (any Error)?

    /// Drops replies and partial lines not yet handed to a request.
    func discardReceived() {
        pending = ""
        lines = []
        ready = []
    }

    func nextReply(on eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        if !ready.isEmpty { return eventLoop.makeSucceededFuture(ready.removeFirst()) }
        if let failure { return eventLoop.makeFailedFuture(failure) }
        let promise = eventLoop.makePromise(of: SMTPReply.self)
        waiting.append(promise)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readString(length: buffer.readableBytes) ?? ""
        while let end = pending.range(of: "\r\n") {
            let line = String(pending[..<end.lowerBound])
            pending.removeSubrange(..<end.upperBound)
            lines.append(String(line.dropFirst(4)))
            let separator = line.dropFirst(3).first
            guard separator != "-" else { continue }
            let reply = SMTPReply(code: Int(line.prefix(3)) ?? 0, lines: lines)
            lines = []
            if waiting.isEmpty { ready.append(reply) } else { waiting.removeFirst().succeed(reply) }
        }
        if pending.utf8.count > 4096 { fail(SMTPMailClient.Failure(description: "SMTP reply line too long")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(SMTPMailClient.Failure(description: "the SMTP server closed the connection"))
    }

    private func fail(_ error: any Error) {
        failure = failure ?? error
        let promises = waiting
        waiting = []
        for promise in promises { promise.fail(error) }
    }
}
