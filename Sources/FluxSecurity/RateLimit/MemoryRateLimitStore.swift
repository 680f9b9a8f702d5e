import Foundation
import NIOConcurrencyHelpers

/// Buckets in this process's memory, bounded: at most `capacity` keys. A bucket that has refilled completely
/// is the same as no bucket, so those are evicted first; under a flood of new keys beyond that, the
/// buckets closest to full go next. Sharded so concurrent requests rarely wait on one lock. Buckets live in
/// one process: replicas each count apart, and a restart forgets them.
public final class MemoryRateLimitStore: RateLimitStore {
    private struct Bucket {
        var tokens: Double
        var updated: Date
        /// When the bucket is full again and can be forgotten.
        var fullAt: Date
    }

    private struct Shard {
        var buckets: [String: Bucket] = [:]
    }

    private let shards: [NIOLockedValueBox<Shard>]
    private let shardCapacity: Int

    /// A store of at most about `capacity` buckets, spread over `shardCount` locks.
    public init(capacity: Int = 100_000, shardCount: Int = 16) {
        shards = (0..<shardCount).map { _ in NIOLockedValueBox(Shard()) }
        shardCapacity = max(1, capacity / shardCount)
    }

    /// Keys currently held, for tests and metrics.
    public var count: Int { shards.reduce(0) { $0 + $1.withLockedValue { $0.buckets.count } } }

    /// Spends a token of bucket `key`; never throws.
    public func consume(key: String, policy: RateLimitPolicy, now: Date) async throws -> RateLimitDecision {
        consumeNow(key: key, policy: policy, now: now)
    }

    /// Spends a token of bucket `key`; always answers.
    public func consumeImmediately(key: String, policy: RateLimitPolicy, now: Date) -> RateLimitDecision? {
        consumeNow(key: key, policy: policy, now: now)
    }

    private func consumeNow(key: String, policy: RateLimitPolicy, now: Date) -> RateLimitDecision {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        return shard.withLockedValue { shard in
            if shard.buckets.count >= shardCapacity, shard.buckets[key] == nil { evict(from: &shard, now: now) }
            let fresh = Bucket(tokens: Double(policy.limit), updated: now, fullAt: now)
            return Self.spend(&shard.buckets[key, default: fresh], now: now, policy: policy)
        }
    }

    private static func spend(_ bucket: inout Bucket, now: Date, policy: RateLimitPolicy) -> RateLimitDecision {
        let (decision, tokens) = RateLimitDecision.consume(tokens: bucket.tokens, updated: bucket.updated, now: now, policy: policy)
        bucket = Bucket(tokens: tokens, updated: now, fullAt: now.addingTimeInterval(decision.resetAfter))
        return decision
    }

    private func evict(from shard: inout Shard, now: Date) {
        shard.buckets = shard.buckets.filter { $0.value.fullAt > now }
        guard shard.buckets.count >= shardCapacity else { return }
        // Still full of live buckets: drop the eighth nearest to full, so the sort is paid once per many inserts.
        let victims = shard.buckets.sorted { $0.value.fullAt < $1.value.fullAt }.prefix(max(1, shardCapacity / 8))
        for (key, _) in victims { shard.buckets.removeValue(forKey: key) }
    }
}
