import Testing
@testable import FluxSecurity

@Suite struct RandomPoolTests {
    @Test func everyDrawIsFreshAcrossRefills() {
        // 32 bytes a pool: the third and later draws of 16 come from refills.
        let pool = RandomPool(size: 32)
        let draws = (0..<64).map { _ in pool.withBytes(16) { Array($0) } }
        #expect(Set(draws).count == draws.count)
        #expect(draws.allSatisfy { $0.count == 16 && $0.contains { $0 != 0 } })
    }

    @Test func bytesAreZeroedOnceHandedOut() {
        let pool = RandomPool(size: 64)
        // The pool's memory stays put between draws that do not refill it, so it can be read back afterwards
        // while the pool is alive.
        withExtendedLifetime(pool) {
            let address = pool.withBytes(16) { UInt(bitPattern: $0.baseAddress) }
            pool.withBytes(16) { _ in }
            let after = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: 16)
            #expect(after.allSatisfy { $0 == 0 })
        }
    }
}
