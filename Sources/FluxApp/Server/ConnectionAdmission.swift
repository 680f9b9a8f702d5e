import FluxSecurity
import NIOCore

/// Counts the server's open connections, in all and per client address, closes a new one at once when it
/// is past a cap, and gives every connection it keeps its deadlines (`ConnectionDeadlines`).
///
/// Threat: one client (or a few) opening connections until the process runs out of descriptors, which stops
/// the database, file uploads and logging along with every other client. A trusted proxy's own address is
/// exempt from the per-address cap (all its clients arrive from it); the forwarded address is what the
/// per-request rate limits count. The local host and trusted proxies may go a little past the total cap, so
/// health checks still get through while a flood holds every other place.
///
/// It sits last in the listening channel's pipeline, after NIO's `AcceptHandler`, so it sees each accepted
/// channel with Vapor's HTTP handlers already in place and before it is registered: a refused connection
/// never reaches Vapor. Accept errors (EMFILE, ENFILE) are handled before it by NIO's `AcceptBackoffHandler`,
/// which pauses accepting for a second instead of spinning.
final class ConnectionAdmission: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let limits: ConnectionLimits
    private let trustedProxies: TrustedProxies
    private let events: ConnectionEvents
    private var open = 0
    private var perAddress: [IPAddress: Int] = [:]

    init(limits: ConnectionLimits, trustedProxies: TrustedProxies, events: ConnectionEvents) {
        self.limits = limits
        self.trustedProxies = trustedProxies
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connection = unwrapInboundIn(data)
        let peer = connection.remoteAddress.flatMap(IPAddress.init)
        let privileged = peer.map { trustedProxies.isTrusted($0) || Self.localHost.contains($0) } ?? true
        // Counted per address unless it is a trusted proxy (or a Unix socket, which has no address).
        let address = peer.flatMap { trustedProxies.isTrusted($0) ? nil : $0 }
        if open >= limits.total + (privileged ? limits.localHeadroom : 0) {
            return refuse(connection, "total")
        }
        if let address, perAddress[address, default: 0] >= limits.perAddress {
            return refuse(connection, "per_address")
        }
        open += 1
        if let address { perAddress[address, default: 0] += 1 }
        events.open(open)

        let loop = context.eventLoop
        let admission = NIOLoopBound(self, eventLoop: loop)
        connection.closeFuture.whenComplete { _ in
            loop.execute { admission.value.release(address) }
        }
        let limits = self.limits
        let events = self.events
        // Queued on the connection's loop before the registration that firing the read queues there, so
        // the deadlines are in place before the first byte can be read.
        connection.eventLoop.execute {
            do {
                try ConnectionDeadlines.install(on: connection, limits: limits, events: events)
            } catch {
                events.logger.error("connection guard not installed; closing the connection", metadata: ["error": .string("\(error)")])
                connection.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    private static let localHost: Set<IPAddress> = [IPAddress("127.0.0.1")!, IPAddress("::1")!]

    private func refuse(_ connection: any Channel, _ reason: String) {
        events.refused(reason)
        connection.close(promise: nil)
    }

    private func release(_ address: IPAddress?) {
        open -= 1
        events.open(open)
        guard let address else { return }
        if let count = perAddress[address], count > 1 {
            perAddress[address] = count - 1
        } else {
            perAddress[address] = nil
        }
    }
}
