import Foundation
import NIOConcurrencyHelpers

/// Kernel randomness drawn a page at a time and handed out once. A fresh CSP nonce goes on every response,
/// and a `getrandom` system call per nonce was a measurable part of the security headers' cost
/// (bench/security.sh). Each byte is zeroed as it is handed out, so no later caller, and no later read of
/// this memory, sees it again. A forked child would share the pool; Flux never forks without an exec.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct State {
        var bytes: [UInt8]
        /// How many bytes from the start have been handed out.
        var used: Int
    }

    private let state: NIOLockedValueBox<State>

    init(size: Int = 4096) {
        state = NIOLockedValueBox(State(bytes: [UInt8](repeating: 0, count: size), used: size))
    }

    /// Calls `body` with `count` random bytes no other call sees; `count` is at most the pool's size.
    func withBytes<Result>(_ count: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        state.withLockedValue { state in
            precondition(count <= state.bytes.count, "more random bytes asked for than the pool holds")
            if state.used + count > state.bytes.count {
                state.bytes.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
                state.used = 0
            }
            let range = state.used..<(state.used + count)
            state.used += count
            return state.bytes.withUnsafeMutableBytes { pool in
                let bytes = UnsafeMutableRawBufferPointer(rebasing: pool[range])
                defer { bytes.initializeMemory(as: UInt8.self, repeating: 0) }
                return body(UnsafeRawBufferPointer(bytes))
            }
        }
    }
}
