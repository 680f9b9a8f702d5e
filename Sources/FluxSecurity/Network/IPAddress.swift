import Foundation
import NIOCore

/// An IPv4 or IPv6 address as bytes; IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are stored as IPv4 so
/// one client is one key whichever way the socket reports it. An address says nothing of who sent a
/// request unless it came from the socket or a trusted proxy (``TrustedProxies``).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, in network order.
    public let bytes: [UInt8]

    /// Parses an address as clients and proxies write it: surrounding spaces and tabs, `[…]` brackets and an
    /// IPv6 zone (`%eth0`) are allowed; `nil` for anything else that is not an address.
    public init?(_ text: some StringProtocol) {
        var utf8 = Substring(text).utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        while let last = utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { utf8 = utf8.dropLast() }
        if utf8.first == UInt8(ascii: "["), let close = utf8.firstIndex(of: UInt8(ascii: "]")) {
            utf8 = utf8[utf8.index(after: utf8.startIndex)..<close]
        }
        if let zone = utf8.firstIndex(of: UInt8(ascii: "%")) { utf8 = utf8[..<zone] }
        guard let address = try? SocketAddress(ipAddress: String(Substring(utf8)), port: 0) else { return nil }
        self.init(address)
    }

    /// A socket's peer; `nil` for a Unix domain socket.
    public init?(_ address: SocketAddress) {
        // in_addr and in6_addr are C structs (the latter a union): withUnsafeBytes is how Swift reads their bytes.
        switch address {
        case .v4(let v4):
            bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            bytes = Self.unmapped(withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) })
        case .unixDomainSocket:
            return nil
        }
    }

    /// An IPv6 address's bytes, or the IPv4 address it maps.
    private static func unmapped(_ raw: [UInt8]) -> [UInt8] {
        raw.prefix(12).elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) ? Array(raw.suffix(4)) : raw
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// True for IPv4 addresses, IPv4-mapped IPv6 ones included.
    public var isIPv4: Bool { bytes.count == 4 }

    /// What names one client for a rate limit: an IPv4 address whole, an IPv6 address by its first
    /// `ipv6Prefix` bits (`2001:db8:1:2::/64`). A host is usually handed a whole /64 and can rotate through
    /// its addresses at will; counting each one apart would let it dodge every limit.
    public func rateLimitKey(ipv6Prefix: Int) -> String {
        guard !isIPv4, ipv6Prefix < 128 else { return description }
        var masked = bytes
        for index in masked.indices {
            let bits = min(8, max(0, ipv6Prefix - index * 8))
            masked[index] &= UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
        return "\(IPAddress(bytes: masked))/\(ipv6Prefix)"
    }

    /// True for `127.0.0.0/8` and `::1`.
    public var isLoopback: Bool {
        isIPv4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// Dotted decimal for IPv4, compressed hexadecimal for IPv6, as `inet_ntop` writes them.
    public var description: String {
        (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: 0))?.ipAddress ?? ""
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a network of one.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// Parses `address` or `address/length`; `nil` for anything else. Bits past the prefix may be set: they
    /// are ignored.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = IPAddress(first) else { return nil }
        let maximum = address.bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maximum).contains(parsed) else { return nil }
            // A v4-mapped v6 network narrows to its v4 part.
            length = address.isIPv4 && first.contains(":") ? max(0, parsed - 96) : parsed
        }
        network = address
        prefixLength = length
    }

    /// Whether the first ``prefixLength`` bits of `address` are the network's; an IPv4 address is never in
    /// an IPv6 network or the reverse.
    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address.bytes, network.bytes) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(network)/\(prefixLength)" }
}
