import NIOCore
import Testing
import VaporTesting
@testable import FluxSecurity

@Suite struct TrustedProxiesTests {
    @Test func cidrMembership() throws {
        let v4 = try #require(CIDR("10.1.0.0/16"))
        #expect(v4.contains(IPAddress("10.1.200.3")!))
        #expect(!v4.contains(IPAddress("10.2.0.1")!))
        let v6 = try #require(CIDR("fd00::/8"))
        #expect(v6.contains(IPAddress("fd12:3456::1")!))
        #expect(!v6.contains(IPAddress("fe80::1")!))
        #expect(CIDR("127.0.0.1")!.contains(IPAddress("::ffff:127.0.0.1")!))
        #expect(CIDR("10.0.0.0/33") == nil)
        #expect(CIDR("not-an-ip") == nil)
        #expect(IPAddress("::1")!.isLoopback)
    }

    @Test func aSocketPeerReadsAsTheSameAddressAsItsText() throws {
        for (socket, text) in [("203.0.113.7", "203.0.113.7"), ("2001:db8::7", "2001:db8::7"), ("::ffff:198.51.100.2", "198.51.100.2")] {
            let peer = try #require(IPAddress(try SocketAddress(ipAddress: socket, port: 443)))
            #expect(peer == IPAddress(text))
            #expect(peer.description == text)
        }
        #expect(IPAddress(try SocketAddress(unixDomainSocketPath: "/tmp/flux.sock")) == nil)
    }

    @Test func anIPv4AddressReadsAsDottedDecimal() throws {
        let edges: [[UInt8]] = [[0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 100, 9], [1, 20, 3, 199], [99, 100, 109, 110]]
        for parts in edges + (0..<500).map({ _ in (0..<4).map { _ in UInt8.random(in: 0...255) } }) {
            let text = parts.map(String.init).joined(separator: ".")
            #expect(try #require(IPAddress(text)).description == text)
        }
    }

    @Test func anIPv6ClientIsKeyedByItsNetworkAndAnIPv4ClientWhole() throws {
        let key = { (text: String, prefix: Int) in try #require(IPAddress(text)).rateLimitKey(ipv6Prefix: prefix) }
        #expect(try key("2001:db8:7:1:aaaa:bbbb:cccc:dddd", 64) == "2001:db8:7:1::/64")
        #expect(try key("2001:db8:7:1::1", 64) == key("2001:db8:7:1:ffff:ffff:ffff:ffff", 64))
        #expect(try key("2001:db8:7:1::1", 64) != key("2001:db8:7:2::1", 64))
        #expect(try key("2001:db8:7:1::1", 48) == key("2001:db8:7:2::1", 48))
        #expect(try key("2001:db8:7:1:8000::1", 65) != key("2001:db8:7:1::1", 65))
        #expect(try key("2001:db8::1", 128) == "2001:db8::1")
        #expect(try key("203.0.113.9", 64) == "203.0.113.9")
        #expect(try key("::ffff:203.0.113.9", 64) == "203.0.113.9")
    }

    @Test func parseNamesTheBadEntry() {
        guard case .failure(let invalid) = TrustedProxies.parse("10.0.0.0/8, banana") else {
            Issue.record("parsed")
            return
        }
        #expect(invalid.entry == "banana")
    }

    private func clientAddress(trusting proxies: TrustedProxies, forwardedFor: String?) async throws -> String {
        try await withBareApp({ app in
            app.get("who") { req in proxies.clientAddress(of: req)?.description ?? "none" }
        }) { app async throws in
            var headers = HTTPHeaders()
            if let forwardedFor { headers.add(name: .xForwardedFor, value: forwardedFor) }
            return try await app.testing(method: .running(port: 0)).sendRequest(.GET, "/who", headers: headers).body.string
        }
    }

    @Test func forwardedForIsIgnoredFromAnUntrustedPeer() async throws {
        #expect(try await clientAddress(trusting: TrustedProxies(), forwardedFor: "203.0.113.9") == "127.0.0.1")
    }

    @Test func forwardedForIsBelievedFromATrustedPeer() async throws {
        let proxies = TrustedProxies([CIDR("127.0.0.0/8")!, CIDR("10.0.0.0/8")!])
        #expect(try await clientAddress(trusting: proxies, forwardedFor: "203.0.113.9") == "203.0.113.9")
        // A client-written entry left of the real client is not believed: the walk stops at the first untrusted hop.
        #expect(try await clientAddress(trusting: proxies, forwardedFor: "6.6.6.6, 203.0.113.9, 10.0.0.2") == "203.0.113.9")
        // Garbage stops the walk at the last hop that could be believed.
        #expect(try await clientAddress(trusting: proxies, forwardedFor: "not-an-ip") == "127.0.0.1")
    }
}
