import NIOCore
import Vapor

/// The proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed. None by default: a header a
/// client wrote is never taken for its address, or it could pick its own rate-limit key. A trusted proxy
/// is believed entirely: one that passes on a client's own `X-Forwarded-For` lets that client choose.
public struct TrustedProxies: Sendable {
    public let networks: [CIDR]
    /// True when this server itself terminates TLS (Vapor configured with a certificate).
    public let terminatesTLS: Bool

    /// Trusts the proxies in `networks`; `terminatesTLS` when this server itself serves HTTPS.
    public init(_ networks: [CIDR] = [], terminatesTLS: Bool = false) {
        self.networks = networks
        self.terminatesTLS = terminatesTLS
    }

    /// Parses a comma-separated CIDR list; a failure names the first entry that is not a CIDR.
    public static func parse(_ list: String) -> Result<TrustedProxies, InvalidEntry> {
        var networks: [CIDR] = []
        for entry in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let cidr = CIDR(entry) else { return .failure(InvalidEntry(entry: entry)) }
            networks.append(cidr)
        }
        return .success(TrustedProxies(networks))
    }

    /// A list entry that is not an address or a CIDR network.
    public struct InvalidEntry: Error, Sendable {
        public let entry: String
    }

    /// Whether `address` is in one of the trusted networks.
    public func isTrusted(_ address: IPAddress) -> Bool {
        networks.contains { $0.contains(address) }
    }

    /// The address of the client: the socket peer, or, walking `X-Forwarded-For` from the right while each
    /// hop is a trusted proxy, the first address no trusted proxy vouches for.
    public func clientAddress(of request: Request) -> IPAddress? {
        guard var current = request.remoteAddress.flatMap(IPAddress.init) else { return nil }
        guard isTrusted(current) else { return current }
        let hops = request.headers[.xForwardedFor].flatMap { $0.split(separator: ",") }
        for hop in hops.reversed() {
            guard let address = IPAddress(hop) else { return current }
            current = address
            if !isTrusted(address) { return address }
        }
        return current
    }

    /// True when the client's connection was HTTPS: TLS terminated by this server, or by a trusted proxy
    /// that says so in `X-Forwarded-Proto`.
    public func isHTTPS(_ request: Request) -> Bool {
        if terminatesTLS { return true }
        guard !networks.isEmpty, let peer = request.remoteAddress.flatMap(IPAddress.init), isTrusted(peer),
            let proto = request.headers.first(name: .xForwardedProto)?.split(separator: ",").first
        else { return false }
        return proto.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }
}
