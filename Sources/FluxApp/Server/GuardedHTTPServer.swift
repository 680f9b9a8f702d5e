import FluxSecurity
import NIOCore
import Vapor

/// Vapor's HTTP server with `ConnectionAdmission` on its listening channel.
///
/// Vapor 4 offers no hook into the pipelines it builds, and rebuilding its HTTP/1 pipeline would mean
/// copying its internal handlers. So this starts Vapor's server unchanged, finds the listening channel among
/// its stored properties, and appends the admission handler there. If a Vapor release moves that channel out
/// of reach, `start` fails rather than serve without deadlines and caps
/// (`ConnectionGuardTests.vaporServerGetsTheGuard` fails first).
struct GuardedHTTPServer: Server {
    let inner: HTTPServer
    let limits: ConnectionLimits
    let trustedProxies: TrustedProxies
    let events: ConnectionEvents

    struct Unguarded: Error, CustomStringConvertible {
        var description: String { "the connection guard could not find Vapor's listening channel; refusing to serve without it" }
    }

    var onShutdown: EventLoopFuture<Void> { inner.onShutdown }

    func start(address: BindAddress?) async throws {
        try await inner.start(address: address)
        do {
            try await guardListener().get()
        } catch {
            await inner.shutdown()
            throw error
        }
    }

    @available(*, noasync, message: "Use the async start() method instead.")
    func start(address: BindAddress?) throws {
        try inner.start(address: address)
        do {
            try guardListener().wait()
        } catch {
            inner.shutdown()
            throw error
        }
    }

    func shutdown() async {
        await inner.shutdown()
    }

    @available(*, noasync, message: "Use the async shutdown() method instead.")
    func shutdown() {
        inner.shutdown()
    }

    private func guardListener() -> EventLoopFuture<Void> {
        guard let listener = Self.listeningChannel(of: inner) else {
            return inner.onShutdown.eventLoop.makeFailedFuture(Unguarded())
        }
        let (limits, trustedProxies, events) = (self.limits, self.trustedProxies, self.events)
        return listener.eventLoop.submit {
            try listener.pipeline.syncOperations.addHandler(
                ConnectionAdmission(limits: limits, trustedProxies: trustedProxies, events: events))
        }
    }

    /// The started server's listening channel: the stored `Channel` whose local address is the server's.
    static func listeningChannel(of server: HTTPServer) -> (any Channel)? {
        guard let bound = server.localAddress else { return nil }
        // Only under the server's connection: its `application` property leads to everything else.
        guard let connection = Mirror(reflecting: server).children.first(where: { $0.label == "connection" })?.value else {
            return nil
        }
        return findChannel(in: connection, bound: bound, depth: 0)
    }

    private static func findChannel(in value: Any, bound: SocketAddress, depth: Int) -> (any Channel)? {
        // Accepted connections share the local address; only the listener has no parent and no peer.
        if let channel = value as? any Channel, channel.parent == nil, channel.remoteAddress == nil, channel.localAddress == bound {
            return channel
        }
        guard depth < 8 else { return nil }
        var mirror: Mirror? = Mirror(reflecting: value)
        while let current = mirror {
            for child in current.children {
                if let found = findChannel(in: child.value, bound: bound, depth: depth + 1) { return found }
            }
            mirror = current.superclassMirror
        }
        return nil
    }
}
